package dev.keel.examples.springcheckout;

/** A paid order cannot ship yet: its customer has given no address. Retried, then dead-lettered. */
public class MissingAddressException extends RuntimeException {
    public MissingAddressException(String customerId, String orderId) {
        super("customer '" + customerId + "' has no shipping address (order " + orderId + ")");
    }
}
