package dev.keel.examples.springcheckout;

/** The data of a {@code payment.captured} event, keyed by the order id. */
public record PaymentCaptured(String paymentId, String orderId, String customerId, long amountCents) {
    public static final String TYPE = "payment.captured";
}
