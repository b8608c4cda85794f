"""The engine: one run from listing to report. sync (list -> plan -> deliver -> stages -> state),
deliver (archive first, then primary, each write verified, within one byte budget), transfer (one
version's bytes), hooks (the Stage protocol stages plug into), listings, state (cache), lease (one run
at a time), verify, summary (results -> RunReport), documents (our bookkeeping objects), budget,
stopping (signals, deadline, watchdog) and logs. It reaches storage only through stores.protocols and
names no stage."""
