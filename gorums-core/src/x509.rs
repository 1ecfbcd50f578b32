//! Just enough of X.509 to read the DNS names a certificate's subject alternative names
//! extension lists: the identity rules that bind a node id to a name need them, and the
//! TLS library verifies certificates but does not list their names. Reads DER only;
//! anything it does not understand gives `None`, never a panic.

/// The subject alternative names extension's object identifier, 2.5.29.17.
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

const SEQUENCE: u8 = 0x30;
const OID: u8 = 0x06;
const BOOLEAN: u8 = 0x01;
const OCTET_STRING: u8 = 0x04;
/// `[3] EXPLICIT Extensions` in a `TBSCertificate`.
const EXTENSIONS: u8 = 0xa3;
/// `dNSName [2] IA5String` in a `GeneralName`.
const DNS_NAME: u8 = 0x82;

/// The DNS names of the subject alternative names of the DER certificate `cert`.
pub(crate) fn dns_names(cert: &[u8]) -> Option<Vec<String>> {
    let (tag, certificate, _) = tlv(cert)?;
    expect(tag, SEQUENCE)?;
    let (tag, tbs, _) = tlv(certificate)?;
    expect(tag, SEQUENCE)?;
    let mut fields = tbs;
    let extensions = loop {
        let (tag, value, rest) = tlv(fields)?;
        if tag == EXTENSIONS {
            break value;
        }
        fields = rest;
    };
    let (tag, mut list, _) = tlv(extensions)?;
    expect(tag, SEQUENCE)?;
    while !list.is_empty() {
        let (tag, extension, rest) = tlv(list)?;
        expect(tag, SEQUENCE)?;
        list = rest;
        let (tag, oid, mut rest) = tlv(extension)?;
        expect(tag, OID)?;
        if oid != SUBJECT_ALT_NAME {
            continue;
        }
        let (mut tag, mut value, after) = tlv(rest)?;
        if tag == BOOLEAN {
            rest = after;
            (tag, value, _) = tlv(rest)?;
        }
        expect(tag, OCTET_STRING)?;
        let (tag, mut names, _) = tlv(value)?;
        expect(tag, SEQUENCE)?;
        let mut found = Vec::new();
        while !names.is_empty() {
            let (tag, name, rest) = tlv(names)?;
            names = rest;
            if tag == DNS_NAME {
                found.push(String::from_utf8(name.to_vec()).ok()?);
            }
        }
        return Some(found);
    }
    Some(Vec::new())
}

fn expect(tag: u8, wanted: u8) -> Option<()> {
    (tag == wanted).then_some(())
}

/// One DER tag-length-value: the tag, the value, and the bytes after it.
fn tlv(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, after) = rest.split_at(count);
        rest = after;
        bytes.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b))
    };
    if rest.len() < len {
        return None;
    }
    let (value, after) = rest.split_at(len);
    Some((tag, value, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_dns_names_of_a_generated_certificate() {
        let names = vec![String::from("node-3.gorums"), String::from("localhost")];
        let cert = rcgen::generate_simple_self_signed(names.clone()).expect("certificate");
        assert_eq!(dns_names(cert.cert.der()), Some(names));
    }

    #[test]
    fn garbage_is_none_not_a_panic() {
        for junk in [
            &b""[..],
            &[0x30],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            &[0x30, 0x02, 0x30],
        ] {
            assert_eq!(dns_names(junk), None);
        }
    }
}
