package dev.keel.spi;

/** A commit carried a fencing token that is no longer the lane's: another instance holds the lane now. */
public final class LeaseLostException extends JournalException {
    private static final long serialVersionUID = 1L;

    public LeaseLostException(int lane, long fence, long current) {
        super("lane " + lane + " is leased to another instance now (fencing token " + current + ", this commit had "
                + fence + "); nothing was written");
    }
}
