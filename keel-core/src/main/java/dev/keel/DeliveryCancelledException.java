package dev.keel;

/**
 * The failure of an attempt an operator cancelled while it ran ({@link Keel#cancel}): the handler was interrupted,
 * and the attempt counts as failed, so the event is retried by the subscription's retry policy (or dead-lettered
 * after its last attempt).
 */
public class DeliveryCancelledException extends KeelException {
    private static final long serialVersionUID = 1L;

    public DeliveryCancelledException(String subscription, String eventId) {
        super("the delivery of event '" + eventId + "' to subscription '" + subscription
                + "' was cancelled while it ran; it is retried by the subscription's retry policy");
    }
}
