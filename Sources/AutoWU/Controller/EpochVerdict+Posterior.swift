extension EpochVerdict {
    /// The pooled posterior of this verdict's test; nil when the test found nothing to smooth or its fit
    /// failed.
    public var posterior: TestPosterior? { check?.posterior }
}
