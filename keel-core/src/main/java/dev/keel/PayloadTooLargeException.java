package dev.keel;

/** An event's data is larger than the runtime's payload limit. Nothing was stored. */
public final class PayloadTooLargeException extends KeelException {
    private static final long serialVersionUID = 1L;
    private final long size;
    private final long limit;

    public PayloadTooLargeException(String type, long size, long limit) {
        super("event of type '" + type + "' has a payload of " + size + " bytes, over the limit of " + limit
                + " bytes; send a reference to the data instead, or raise Keel.builder().maxPayloadBytes(...)");
        this.size = size;
        this.limit = limit;
    }

    /** The payload's serialized size in bytes. */
    public long size() {
        return size;
    }

    /** The configured limit in bytes. */
    public long limit() {
        return limit;
    }
}
