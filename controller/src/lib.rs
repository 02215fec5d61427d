//! The TSM controller core: a state machine fed with switch messages, timers and commands. No I/O.
