//! Harnesses for end-to-end tests: fabrics of Open vSwitch or switch-sim in private namespaces.
