//! switch-sim: an OpenFlow 1.3 switch model (Pipeline) and, later, the switch around it.
