package dev.keel.examples.springcheckout;

/** The data of an {@code order.placed} event, keyed by the order id. */
public record OrderPlaced(String orderId, String customerId, String sku, int quantity, long amountCents) {
    public static final String TYPE = "order.placed";
}
