package dev.keel.examples.springcheckout;

import org.junit.jupiter.api.extension.RegisterExtension;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/** The checkout on PostgreSQL: a new database on an embedded server, the application's tables and Keel's in it. */
class PostgresCheckoutTest extends CheckoutContract {
    @RegisterExtension
    static final PostgresDatabase postgres = new PostgresDatabase();

    @DynamicPropertySource
    static void database(DynamicPropertyRegistry registry) {
        registry.add("spring.datasource.url", postgres::url);
        registry.add("spring.datasource.username", postgres::user);
        registry.add("spring.datasource.password", () -> "");
    }
}
