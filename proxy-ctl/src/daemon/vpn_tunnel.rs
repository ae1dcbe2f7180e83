//! One MN <-> GW SA pair in tunnel mode: seal an inner IPv4 datagram into
//! an outer IPv4/ESP packet from any source (the outer addresses are not
//! part of the SA state, so moving them needs no re-keying), and open one.

use std::net::Ipv4Addr;

use proxy_proto::{
    esp::{EspCipher, OutboundSa},
    vpn::tunnel_sa::{NEXT_HEADER_IPV4, TunnelInboundSa},
};

use super::vpn_io::outer_ipv4;

pub struct SaPair {
    pub outbound: OutboundSa,
    pub inbound: TunnelInboundSa,
    /// Scratch buffer for sealing (no allocation per packet once grown).
    scratch: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    #[error("outer packet is not IPv4/ESP")]
    NotEsp,
    #[error("SPI {0:#x} is not ours")]
    UnknownSpi(u32),
    #[error("ESP: {0}")]
    Esp(#[from] proxy_proto::esp::DropReason),
    #[error("seal: {0}")]
    Seal(#[from] proxy_proto::esp::SealError),
}

/// The outer header fields of a received ESP packet.
#[derive(Debug, Clone, Copy)]
pub struct Outer {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub spi: u32,
    /// Where the ESP header starts.
    pub esp_at: usize,
}

/// Reads the outer IPv4 header and the SPI of a packet from the raw socket.
pub fn outer(pkt: &[u8]) -> Result<Outer, TunnelError> {
    use proxy_proto::vpn::ipv4::Packet;
    let p = Packet::new_checked(pkt).map_err(|_| TunnelError::NotEsp)?;
    if p.protocol() != super::vpn_io::IPPROTO_ESP || p.is_fragment() {
        return Err(TunnelError::NotEsp);
    }
    let at = p.header_len();
    let end = usize::from(p.total_len()).min(pkt.len());
    let spi = pkt.get(at..at + 4).filter(|_| end >= at + 8).ok_or(TunnelError::NotEsp)?;
    Ok(Outer {
        src: p.src_addr(),
        dst: p.dst_addr(),
        spi: u32::from_be_bytes([spi[0], spi[1], spi[2], spi[3]]),
        esp_at: at,
    })
}

impl SaPair {
    pub fn new(spi_out: u32, cipher_out: EspCipher, spi_in: u32, cipher_in: EspCipher) -> Self {
        Self {
            outbound: OutboundSa::new(spi_out, cipher_out),
            inbound: TunnelInboundSa::new(spi_in, cipher_in),
            scratch: Vec::with_capacity(2048),
        }
    }

    /// Seals `inner` and writes the outer packet (src -> dst) into `out`.
    pub fn seal(&mut self, inner: &[u8], src: Ipv4Addr, dst: Ipv4Addr, out: &mut Vec<u8>) -> Result<(), TunnelError> {
        let len = self.outbound.sealed_len(inner.len());
        let off = self.outbound.payload_offset();
        self.scratch.clear();
        self.scratch.resize(len, 0);
        self.scratch[off..off + inner.len()].copy_from_slice(inner);
        let n =
            self.outbound.seal(&mut self.scratch, inner.len(), NEXT_HEADER_IPV4, &mut super::vpn_io::fill_random)?;
        outer_ipv4(src, dst, &self.scratch[..n], out);
        Ok(())
    }

    /// Opens the ESP part of `pkt` (outer header at the start) in place;
    /// returns the range of the inner datagram.
    pub fn open(&mut self, pkt: &mut [u8], o: &Outer) -> Result<core::ops::Range<usize>, TunnelError> {
        if o.spi != self.inbound.spi() {
            return Err(TunnelError::UnknownSpi(o.spi));
        }
        let total = {
            let p = proxy_proto::vpn::ipv4::Packet::new_checked(&*pkt).map_err(|_| TunnelError::NotEsp)?;
            usize::from(p.total_len()).min(pkt.len())
        };
        let r = self.inbound.open(&mut pkt[o.esp_at..total])?;
        Ok(o.esp_at + r.start..o.esp_at + r.end)
    }
}

/// Inner datagram helpers: (protocol, src, dst, UDP dst port if UDP).
pub fn inner_summary(inner: &[u8]) -> Option<(u8, Ipv4Addr, Ipv4Addr)> {
    let p = proxy_proto::vpn::ipv4::Packet::new_checked(inner).ok()?;
    Some((p.protocol(), p.src_addr(), p.dst_addr()))
}
