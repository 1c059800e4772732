package dev.keel.server;

/**
 * The names users give subscriptions ({@code PUT /v1/subscriptions/billing}) and the runtime's names behind
 * them ({@code webhook:<tenant>:billing:<generation>}): what users send is mapped one way, what they are
 * shown the other.
 */
interface SubscriptionNames {

    /** The runtime subscription behind a tenant's subscription of that name, or null when none runs. */
    String runtimeName(String tenant, String name);

    /** The name a user knows a runtime subscription by. */
    String userName(String runtimeName);
}
