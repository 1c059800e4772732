package dev.keel.test;

import dev.keel.memory.MemoryJournal;
import dev.keel.spi.Journal;

class MemoryJournalContractTest extends JournalContract {
    @Override
    protected Journal newJournal() {
        return new MemoryJournal();
    }
}
