package dev.keel.jdbc;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The order keys are locked in is the order of their UTF-8 bytes, as the databases sort them. */
class CodePointOrderTest {
    @Test
    void ordersAsUtf8BytesWhereStringsOwnOrderDoesNot() {
        Random random = new Random(11);
        int[] alphabet = {'a', 'b', 'C', '-', ':', 0xE9, 0xFF21, 0x1F600, 0x10000};
        int disagreements = 0;
        for (int n = 0; n < 20_000; n++) {
            String a = word(random, alphabet);
            String b = word(random, alphabet);
            int bytes = Integer.signum(
                    Arrays.compareUnsigned(a.getBytes(StandardCharsets.UTF_8), b.getBytes(StandardCharsets.UTF_8)));
            assertThat(Integer.signum(Database.CODE_POINT_ORDER.compare(a, b)))
                    .as("%s vs %s", a, b)
                    .isEqualTo(bytes);
            if (Integer.signum(a.compareTo(b)) != bytes) {
                disagreements++;
            }
        }
        // String's own order (UTF-16 units) puts U+FF21 after U+1F600's surrogates: it would lock in another order.
        assertThat(disagreements).isPositive();
    }

    private static String word(Random random, int[] alphabet) {
        StringBuilder b = new StringBuilder();
        int length = 1 + random.nextInt(4);
        for (int i = 0; i < length; i++) {
            b.appendCodePoint(alphabet[random.nextInt(alphabet.length)]);
        }
        return b.toString();
    }
}
