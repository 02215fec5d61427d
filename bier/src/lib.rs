//! BIER: bit strings, the RFC 8296 header and the forwarding procedure of RFC 8279. No I/O.
