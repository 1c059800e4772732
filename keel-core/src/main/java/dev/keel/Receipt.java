package dev.keel;

/**
 * The journal's acknowledgement of an emitted event: once you hold it the event is stored (durably, on a
 * durable engine) and will reach every matching subscription.
 *
 * @param eventId the id of the stored event; for a duplicate, the id of the event first accepted
 * @param lane the lane the event was appended to
 * @param sequence its position in the lane
 * @param duplicate true when the event repeated an idempotency key or a source and id seen before, and so
 *     was not stored again
 */
public record Receipt(String eventId, int lane, long sequence, boolean duplicate) {}
