/**
 * Event-sourced aggregates as deciders: an initial state, {@code decide(command, state)} giving events (or a
 * {@link dev.keel.eventsourcing.Rejection} that says why not) and {@link dev.keel.eventsourcing.Effect effects},
 * and {@code evolve(state, event)} giving the next state. Pure functions over records and sealed interfaces:
 * no annotations, no base classes, nothing to mock. See docs/event-sourcing.md.
 */
package dev.keel.eventsourcing;
