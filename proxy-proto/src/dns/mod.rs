//! DNS side of the HIP proxy for legacy hosts.
//!
//! A legacy host asks the proxy for a name; the proxy resolves it upstream
//! (A/AAAA and the HIP RR of RFC 8005) and, when the name has a HIP RR,
//! answers with a substitute address from its own pool and reports the
//! mapping {name, HIT, Host Identity, locators, substitute, expiry}.
//!
//! The daemon drives [`Interceptor`] quinn-style:
//! - a datagram (or a message from [`TcpDeframer`]) from a legacy host:
//!   `handle_client_query(now, client, transport, bytes)`;
//! - a message from the upstream resolver: `handle_upstream_response(now,
//!   bytes)`;
//! - at `poll_timeout()`: `handle_timeout(now)`;
//! - then drain `poll_transmit()` (send; [`frame`] for TCP) and
//!   `poll_event()` (install mappings, count failures);
//! - the pool (`pool_mut()`) is told flow counts with `set_flows` and is
//!   expired at its own `poll_timeout()` with `expire(now)`.

mod cache;
pub mod hip_rr;
pub mod hip_rr_text;
pub mod interceptor;
pub mod mapping;
pub mod pool;
pub mod record;
pub mod tcp;

pub use hip_rr::{HIP_RR_TYPE, HipRdata, HipRdataError, PkAlgorithm};
pub use hip_rr_text::HipTextError;
pub use interceptor::{
    ClientQueryError, Config, Event, FailReason, Interceptor, NonHipPolicy, RandomSource, Transmit, Transport,
    UpstreamResponseError,
};
pub use mapping::{HostIdentity, Locator, MappingEvent, StaticHost, StaticHostError};
pub use pool::{Family, Freed, Hit, PoolError, SubstitutePool};
pub use record::HIP_RECORD_TYPE;
pub use tcp::{TcpDeframer, TcpFrameError, frame};

#[cfg(test)]
mod interceptor_tests;
