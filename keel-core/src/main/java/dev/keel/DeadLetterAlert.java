package dev.keel;

/**
 * Raised once when a subscription's dead letters reach the alert threshold; raised again only after the
 * count has dropped below it.
 *
 * @param subscription the subscription
 * @param deadLetters how many dead letters it holds now
 * @param threshold the configured threshold
 */
public record DeadLetterAlert(String subscription, long deadLetters, long threshold) {}
