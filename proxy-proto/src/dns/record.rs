//! Carrying the HIP RR in hickory-proto 0.25, which has no HIP type: its
//! `RData::Unknown { code, rdata: NULL }` holds the raw RDATA of any type
//! it does not know, and emits it unchanged.

use hickory_proto::rr::rdata::NULL;
use hickory_proto::rr::{RData, Record, RecordType};

use super::hip_rr::{HIP_RR_TYPE, HipRdata, HipRdataError};

/// The HIP RR type as hickory names it.
pub const HIP_RECORD_TYPE: RecordType = RecordType::Unknown(HIP_RR_TYPE);

impl HipRdata {
    /// Wraps the RDATA for a hickory `Record` of type 55.
    pub fn to_rdata(&self) -> Result<RData, HipRdataError> {
        Ok(RData::Unknown { code: HIP_RECORD_TYPE, rdata: NULL::with(self.to_bytes()?) })
    }

    /// Parses the RDATA of a hickory record; `NotHip` unless it is type 55.
    pub fn from_rdata(rdata: &RData) -> Result<Self, HipRdataError> {
        match rdata {
            RData::Unknown { code, rdata } if *code == HIP_RECORD_TYPE => Self::from_bytes(rdata.anything()),
            _ => Err(HipRdataError::NotHip),
        }
    }

    /// Parses a hickory record; `NotHip` unless it is type 55.
    pub fn from_record(record: &Record) -> Result<Self, HipRdataError> {
        if record.record_type() != HIP_RECORD_TYPE {
            return Err(HipRdataError::NotHip);
        }
        Self::from_rdata(record.data())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, Query};
    use hickory_proto::rr::Name;
    use hickory_proto::rr::rdata::A;

    const DNSMASQ_QUERY: &[u8] = include_bytes!("../../tests/data/dns/dnsmasq_hip_query.bin");
    /// Captured from dnsmasq 2.90 on loopback:
    /// `dnsmasq --no-resolv --no-hosts --conf-file=/dev/null --port 5354
    /// --listen-address 127.0.0.53 --bind-interfaces
    /// --host-record=hip.example,10.0.0.9 --dns-rr=hip.example,55,<RFC8005_RVS_HEX>
    /// --local-ttl=60`, asked `hip.example. IN TYPE55` (id 0x4849) by dnspython.
    const DNSMASQ_RESPONSE: &[u8] = include_bytes!("../../tests/data/dns/dnsmasq_hip_response.bin");

    #[test]
    fn record_from_real_dnsmasq_response() {
        let query = Message::from_vec(DNSMASQ_QUERY).unwrap();
        assert_eq!(query.queries()[0].query_type(), HIP_RECORD_TYPE);
        let message = Message::from_vec(DNSMASQ_RESPONSE).unwrap();
        assert_eq!(message.id(), 0x4849);
        assert_eq!(message.answers().len(), 1);
        let record = &message.answers()[0];
        assert_eq!(record.name(), &Name::from_ascii("hip.example.").unwrap());
        assert_eq!(record.ttl(), 60);
        let rr = HipRdata::from_record(record).unwrap();
        assert_eq!(hex::encode(rr.to_bytes().unwrap()), super::super::hip_rr::tests::RFC8005_RVS_HEX);
        assert_eq!(rr.rendezvous_servers[0].to_ascii(), "rvs.example.com.");
    }

    #[test]
    fn record_round_trips_through_a_hickory_message() {
        let rr = HipRdata::from_bytes(&hex::decode(super::super::hip_rr::tests::RFC8005_TWO_RVS_HEX).unwrap()).unwrap();
        let name = Name::from_ascii("www.example.com.").unwrap();
        let mut message = Message::new();
        message.add_query(Query::query(name.clone(), HIP_RECORD_TYPE));
        message.add_answer(Record::from_rdata(name, 300, rr.to_rdata().unwrap()));
        let bytes = message.to_vec().unwrap();
        let back = Message::from_vec(&bytes).unwrap();
        assert_eq!(HipRdata::from_record(&back.answers()[0]).unwrap(), rr);
        // The RDATA sits uncompressed at the end of the message.
        let rdata = rr.to_bytes().unwrap();
        assert_eq!(&bytes[bytes.len() - rdata.len()..], &rdata[..]);
    }

    #[test]
    fn other_records_are_not_hip() {
        let record = Record::from_rdata(Name::from_ascii("a.example.").unwrap(), 1, RData::A(A::new(192, 0, 2, 1)));
        assert_eq!(HipRdata::from_record(&record), Err(HipRdataError::NotHip));
        let other = RData::Unknown { code: RecordType::Unknown(56), rdata: NULL::with(vec![1]) };
        assert_eq!(HipRdata::from_rdata(&other), Err(HipRdataError::NotHip));
    }
}
