package dev.keel.examples.springcheckout;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The body of {@code POST /orders}.
 *
 * @param customer the customer's id
 * @param sku the product
 * @param quantity how many, from 1 to {@value #MAX_QUANTITY}
 */
public record PlaceOrder(String customer, String sku, Integer quantity) {
    public static final int MAX_QUANTITY = 100;

    /** What is wrong with the request, by field; empty when nothing is. */
    Map<String, String> problems() {
        Map<String, String> problems = new LinkedHashMap<>();
        if (customer == null || customer.isBlank()) {
            problems.put("customer", "is required");
        }
        if (sku == null || sku.isBlank()) {
            problems.put("sku", "is required");
        }
        if (quantity == null) {
            problems.put("quantity", "is required");
        } else if (quantity < 1 || quantity > MAX_QUANTITY) {
            problems.put("quantity", "must be between 1 and " + MAX_QUANTITY + ", but was " + quantity);
        }
        return problems;
    }
}
