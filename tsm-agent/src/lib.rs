//! The sender-side agent library of TSM.
