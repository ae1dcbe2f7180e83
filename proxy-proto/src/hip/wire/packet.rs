//! [`HipPacket`]: an owned HIP packet, header fields plus typed parameters.

use core::net::Ipv6Addr;

use super::Error;
use super::header::{HEADER_LEN, MAX_PACKET_LEN, Packet, PacketType, VERSION};
use super::param::Param;
use super::param::tlv::{ParamIter, ParamTlv};

/// An owned HIP packet (RFC 7401 §5.1, §5.2). The checksum is not part of
/// it: it depends on the IP addresses, so [`Packet::fill_checksum`] and
/// [`Packet::verify_checksum`] handle it on the bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HipPacket {
    /// Next Header (59 for HIP control packets).
    pub next_header: u8,
    /// Packet Type.
    pub packet_type: PacketType,
    /// Controls (§5.1.2).
    pub controls: u16,
    /// Sender's HIT.
    pub sender_hit: Ipv6Addr,
    /// Receiver's HIT (all zeros in opportunistic mode).
    pub receiver_hit: Ipv6Addr,
    /// Parameters. Parsing yields them in wire order, which is ascending
    /// type order; emit sorts them (stably) into that order.
    pub params: Vec<Param>,
}

impl HipPacket {
    /// Parse a packet view: fixed bits, version 2, and every parameter
    /// (extent, zero padding, ascending order, layout of known types,
    /// unknown critical types rejected). The checksum is not checked here.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<HipPacket, Error> {
        packet.check_len()?;
        if !packet.fixed_bits_ok() {
            return Err(Error::FixedBits);
        }
        if packet.version() != VERSION {
            return Err(Error::UnsupportedVersion(packet.version()));
        }
        let params = ParamIter::new(packet.parameters())
            .map(|raw| raw.and_then(|r| Param::parse(&r.tlv)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(HipPacket {
            next_header: packet.next_header(),
            packet_type: packet.packet_type(),
            controls: packet.controls(),
            sender_hit: packet.sender_hit(),
            receiver_hit: packet.receiver_hit(),
            params,
        })
    }

    /// Parse bytes (the IP payload).
    pub fn parse_bytes(bytes: &[u8]) -> Result<HipPacket, Error> {
        HipPacket::parse(&Packet::new_checked(bytes)?)
    }

    /// Octets the packet needs: header plus padded parameters.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.params.iter().map(Param::buffer_len).sum::<usize>()
    }

    /// Emit into `packet`, whose buffer must hold [`HipPacket::buffer_len`]
    /// octets: header (Header Length computed, checksum zero), then the
    /// parameters in ascending type order with zero padding.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<(), Error> {
        let len = self.buffer_len();
        if len > MAX_PACKET_LEN {
            return Err(Error::PacketTooLong { len });
        }
        let available = packet.raw_len();
        if available < len {
            return Err(Error::PacketTruncated {
                declared: len,
                available,
            });
        }
        // len is a multiple of 8 between 40 and 2048, so this fits a u8.
        let hdr_len = u8::try_from(len / 8 - 1).map_err(|_| Error::PacketTooLong { len })?;
        packet.set_next_header(self.next_header);
        packet.set_header_length(hdr_len);
        packet.set_packet_type(self.packet_type);
        packet.set_version(VERSION);
        packet.set_checksum(0);
        packet.set_controls(self.controls);
        packet.set_sender_hit(self.sender_hit);
        packet.set_receiver_hit(self.receiver_hit);
        let mut ordered: Vec<&Param> = self.params.iter().collect();
        ordered.sort_by_key(|p| p.param_type());
        let mut area = &mut packet.parameters_mut()[..len - HEADER_LEN];
        for p in ordered {
            let (this, rest) = area.split_at_mut(p.buffer_len());
            p.emit(&mut ParamTlv::new_unchecked(this));
            area = rest;
        }
        Ok(())
    }

    /// Emit into a new buffer (checksum zero; fill it with
    /// [`Packet::fill_checksum`]).
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let mut buf = vec![0u8; self.buffer_len()];
        self.emit(&mut Packet::new_unchecked(&mut buf[..]))?;
        Ok(buf)
    }

    /// The first parameter of type `ty`.
    pub fn param(&self, ty: u16) -> Option<&Param> {
        self.params.iter().find(|p| p.param_type() == ty)
    }
}
