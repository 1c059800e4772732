package dev.keel.examples.springcheckout;

/** No order, customer or other thing has the id asked for; answered with 404. */
public class NotFoundException extends RuntimeException {
    public NotFoundException(String thing, String id) {
        super("no " + thing + " '" + id + "'");
    }
}
