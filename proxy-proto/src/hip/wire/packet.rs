//! [`HipPacket`]: an owned HIP packet, header fields plus typed parameters.

use core::net::Ipv6Addr;

use super::Error;
use super::header::{HEADER_LEN, MAX_PACKET_LEN, Packet, PacketType, VERSION};
use super::param::tlv::{ParamIter, ParamTlv};
use super::param::{Param, TypedParam};

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
            return Err(Error::PacketTruncated { declared: len, available });
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

    /// The first parameter of type `P`, typed.
    pub fn get<P: TypedParam>(&self) -> Option<&P> {
        self.params.iter().find_map(P::from_param)
    }

    /// Every parameter of type `P`, in order.
    pub fn get_all<P: TypedParam + 'static>(&self) -> impl Iterator<Item = &P> {
        self.params.iter().filter_map(P::from_param)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hip::wire::param::dh::DhGroupList;
    use crate::hip::wire::param::echo::{EchoRequestSigned, EchoRequestUnsigned};
    use crate::hip::wire::param::esp::EspInfo;
    use crate::hip::wire::param::update::Seq;

    /// The I1 of bex.pcap (frame 1).
    const I1: &str = "3b06012152410000200100215cecfdcd2e22bcf402ab958820010021c1e164fce0f2d98580bfc6bc01ff000607090803040a000000000000";

    fn hit(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn parse_i1() {
        let bytes = hex::decode(I1).unwrap();
        let p = HipPacket::parse_bytes(&bytes).unwrap();
        assert_eq!(
            p,
            HipPacket {
                next_header: 59,
                packet_type: PacketType::I1,
                controls: 0,
                sender_hit: hit("2001:21:5cec:fdcd:2e22:bcf4:2ab:9588"),
                receiver_hit: hit("2001:21:c1e1:64fc:e0f2:d985:80bf:c6bc"),
                params: vec![Param::DhGroupList(DhGroupList { groups: vec![7, 9, 8, 3, 4, 10] })],
            }
        );
        // Emit reproduces the bytes but for the checksum, which it leaves 0.
        let mut out = p.to_bytes().unwrap();
        assert_eq!(&out[4..6], &[0, 0]);
        out[4..6].copy_from_slice(&bytes[4..6]);
        assert_eq!(out, bytes);
    }

    #[test]
    fn emit_sorts_parameters_and_sets_header_length() {
        let p = HipPacket {
            next_header: 59,
            packet_type: PacketType::Update,
            controls: 0,
            sender_hit: hit("2001:21::1"),
            receiver_hit: hit("2001:21::2"),
            params: vec![
                Param::EchoRequestUnsigned(EchoRequestUnsigned { opaque: vec![1, 2, 3] }),
                Param::Seq(Seq { update_id: 7 }),
                Param::EspInfo(EspInfo { keymat_index: 0, old_spi: 1, new_spi: 2 }),
                Param::EchoRequestSigned(EchoRequestSigned { opaque: vec![4] }),
            ],
        };
        let bytes = p.to_bytes().unwrap();
        // 40 + ESP_INFO 16 + SEQ 8 + ECHO_REQUEST_SIGNED 8 + ECHO_REQUEST_UNSIGNED 8.
        assert_eq!(bytes.len(), 80);
        assert_eq!(bytes[1], 9);
        let types: Vec<u16> = ParamIter::new(&bytes[40..]).map(|r| r.unwrap().tlv.param_type()).collect();
        assert_eq!(types, [65, 385, 897, 63661]);
        let back = HipPacket::parse_bytes(&bytes).unwrap();
        assert_eq!(back.param(385), Some(&Param::Seq(Seq { update_id: 7 })));
        assert_eq!(back.get::<Seq>(), Some(&Seq { update_id: 7 }));
        assert_eq!(back.get_all::<EchoRequestSigned>().count(), 1);
        assert_eq!(back.get::<DhGroupList>(), None);
        assert_eq!(back.params.len(), 4);
    }

    #[test]
    fn emit_rejects_oversized_and_short_buffers() {
        let mut p = HipPacket::parse_bytes(&hex::decode(I1).unwrap()).unwrap();
        let mut small = [0u8; 48];
        assert_eq!(
            p.emit(&mut Packet::new_unchecked(&mut small[..])),
            Err(Error::PacketTruncated { declared: 56, available: 48 })
        );
        p.params = vec![Param::EchoRequestSigned(EchoRequestSigned { opaque: vec![0; 2005] })];
        // 40 + 4 + 2005 padded to 2016 = 2056 > 2048.
        assert_eq!(p.to_bytes(), Err(Error::PacketTooLong { len: 2056 }));
    }

    /// Every kind of malformed input gets its own typed error.
    #[test]
    fn malformed_packets() {
        let good = hex::decode(I1).unwrap();
        let with = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = good.clone();
            f(&mut b);
            HipPacket::parse_bytes(&b)
        };
        // Truncated header.
        assert_eq!(HipPacket::parse_bytes(&good[..20]), Err(Error::Truncated { len: 20 }));
        // Header Length beyond the buffer, and below the minimum.
        assert_eq!(with(&|b| b[1] = 7), Err(Error::PacketTruncated { declared: 64, available: 56 }));
        assert_eq!(with(&|b| b[1] = 2), Err(Error::BadHeaderLength { hdr_len: 2 }));
        // Fixed bits and version.
        assert_eq!(with(&|b| b[2] |= 0x80), Err(Error::FixedBits));
        assert_eq!(with(&|b| b[3] &= 0xfe), Err(Error::FixedBits));
        assert_eq!(with(&|b| b[3] = 0x11), Err(Error::UnsupportedVersion(1)));
        // Parameter overrunning the packet: Length 6 -> 13.
        assert_eq!(with(&|b| b[43] = 13), Err(Error::ParamTruncated { ty: 511 }));
        // (Padding cannot be cut short inside a packet: the parameter area
        // is a multiple of 8 octets. ParamTlv's tests cover that case.)
        // Non-zero padding.
        assert_eq!(with(&|b| b[55] = 1), Err(Error::NonZeroPadding { ty: 511 }));
        // Header Length 5: the 8-octet area cuts DH_GROUP_LIST short.
        assert_eq!(with(&|b| b[1] = 5), Err(Error::ParamTruncated { ty: 511 }));
        // Bad layout of a known parameter: DIFFIE_HELLMAN with Length 2.
        assert_eq!(
            with(&|b| b[40..48].copy_from_slice(&[0x02, 0x01, 0, 2, 7, 0, 0, 0])),
            Err(Error::BadParamLength { ty: 513, len: 2 })
        );
    }

    #[test]
    fn out_of_order_and_unknown_critical() {
        let good = hex::decode(I1).unwrap();
        let mut two = good.clone();
        two[1] = 7;
        // DH_GROUP_LIST (511) then a PUZZLE (257) with 4 octets of contents.
        two.extend_from_slice(&[0x01, 0x01, 0, 4, 1, 2, 3, 4]);
        assert_eq!(HipPacket::parse_bytes(&two), Err(Error::ParamOrder { prev: 511, ty: 257 }));
        // Unknown critical type 4001 after DH_GROUP_LIST.
        let l = two.len();
        two[l - 8..l - 6].copy_from_slice(&4001u16.to_be_bytes());
        let e = HipPacket::parse_bytes(&two).unwrap_err();
        assert_eq!(e, Error::UnsupportedCriticalParam { ty: 4001 });
        assert_eq!(
            e.notify_type(),
            Some(crate::hip::wire::param::notification::NotifyMessageType::UnsupportedCriticalParameterType)
        );
        // The same type without the critical bit is kept.
        two[l - 8..l - 6].copy_from_slice(&4000u16.to_be_bytes());
        let p = HipPacket::parse_bytes(&two).unwrap();
        assert_eq!(p.params[1], Param::Unknown { ty: 4000, contents: vec![1, 2, 3, 4] });
        let mut out = p.to_bytes().unwrap();
        out[4..6].copy_from_slice(&two[4..6]);
        assert_eq!(out, two);
    }
}
