package dev.keel.spi;

/**
 * A stored event's data cannot be read back: its compressed payload is damaged, or was written with an encoding
 * this release does not read. Engines hand such a record on as {@link LogRecord#UNREADABLE_TYPE}, which every
 * subscription dead-letters, so it never stops a lane.
 */
public final class UnreadablePayloadException extends JournalException {
    private static final long serialVersionUID = 1L;
    private final String eventId;

    public UnreadablePayloadException(String eventId, String encoding, String reason, Throwable cause) {
        super(
                "the data of stored event " + eventId + " (dataencoding '" + encoding + "') cannot be read: " + reason,
                cause);
        this.eventId = eventId;
    }

    /** The id of the event whose data is unreadable. */
    public String eventId() {
        return eventId;
    }
}
