use super::*;

#[test]
fn fingerprints_are_stable_and_distinct() {
    let a = fingerprint(Kind::PemPrivateKey, Some("a.pem"), "RSA", "abc");
    assert_eq!(
        a,
        fingerprint(Kind::PemPrivateKey, Some("a.pem"), "RSA", "abc")
    );
    assert_eq!(a.len(), 20);
    assert_ne!(
        a,
        fingerprint(Kind::PemPrivateKey, Some("b.pem"), "RSA", "abc")
    );
    assert_ne!(
        a,
        fingerprint(Kind::AgeSecretKey, Some("a.pem"), "RSA", "abc")
    );
    assert_ne!(
        a,
        fingerprint(Kind::PemPrivateKey, Some("a.pem"), "RSA", "abd")
    );
}

#[test]
fn every_kind_has_a_distinct_id() {
    let mut ids: Vec<&str> = Kind::ALL.iter().map(|k| k.id()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), Kind::ALL.len());
}

#[test]
fn instance_facts_read_hostnames_and_bootstrap() {
    let facts = Facts::parse(
        "{ domain = \"ci.example.test\"; hostname = \"build01.example.test\"; \
         bootstrap.recipient = \"age1xyz\"; gateway.address = \"203.0.113.7\"; }",
    )
    .unwrap();
    let f = InstanceFacts::from_facts(&facts);
    assert_eq!(f.domain.as_deref(), Some("ci.example.test"));
    assert_eq!(f.hostnames, ["build01.example.test"]);
    assert_eq!(f.bootstrap_recipient.as_deref(), Some("age1xyz"));
}
