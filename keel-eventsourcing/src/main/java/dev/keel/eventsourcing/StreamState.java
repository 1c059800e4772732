package dev.keel.eventsourcing;

/**
 * A stream's state as loaded: its events folded over the initial state (from a snapshot when one serves).
 *
 * @param stream the stream ({@code type:id})
 * @param version the number of events folded
 * @param state the state
 * @param <S> the state type
 */
public record StreamState<S>(String stream, long version, S state) {}
