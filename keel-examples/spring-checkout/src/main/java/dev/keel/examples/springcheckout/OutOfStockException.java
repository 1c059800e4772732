package dev.keel.examples.springcheckout;

/** Fewer items of a product are left than an order asks for; answered with 409. */
public class OutOfStockException extends RuntimeException {
    public OutOfStockException(String sku, int wanted, long left) {
        super("only " + left + " of '" + sku + "' left, " + wanted + " asked for");
    }
}
