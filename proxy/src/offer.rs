//! Validates a client's SDP offer before it costs an OpenAI call: parsed with the `sdp` crate,
//! and checked for what OpenAI's transcription over WebRTC needs.

use std::io::Cursor;

use sdp::description::session::SessionDescription;

use crate::error::{AppError, Result};

/// The largest offer accepted; real ones are 2–6 KiB.
pub const MAX_OFFER_BYTES: usize = 64 * 1024;

/// What the proxy learned from a valid offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferSummary {
    /// ICE candidates carried (non-trickle).
    pub n_candidates: usize,
}

fn invalid(message: impl Into<String>) -> AppError {
    AppError::InvalidSdp(message.into())
}

/// Checks `offer`: one audio section offering Opus that sends, one data-channel section, ICE
/// credentials, a DTLS fingerprint and candidates; no video.
pub fn validate_offer(offer: &str) -> Result<OfferSummary> {
    if offer.len() > MAX_OFFER_BYTES {
        return Err(invalid(format!(
            "the SDP offer is {} bytes, over the {MAX_OFFER_BYTES}-byte limit",
            offer.len()
        )));
    }
    if offer.trim().is_empty() {
        return Err(invalid(
            "the SDP offer is empty: send the peer connection's local description",
        ));
    }
    let session = SessionDescription::unmarshal(&mut Cursor::new(offer.as_bytes()))
        .map_err(|err| invalid(format!("the SDP offer does not parse ({err}); send the local description as created, unmodified")))?;
    let media = &session.media_descriptions;
    let count = |kind: &str| media.iter().filter(|m| m.media_name.media == kind).count();
    if count("video") > 0 {
        return Err(invalid(
            "the SDP offer has a video section; transcription takes audio only",
        ));
    }
    let audio: Vec<_> = media
        .iter()
        .filter(|m| m.media_name.media == "audio")
        .collect();
    if audio.len() != 1 {
        return Err(invalid(format!(
            "the SDP offer has {} audio sections; send exactly one Opus track per call",
            audio.len()
        )));
    }
    let audio = audio[0];
    let opus = audio.attributes.iter().any(|attribute| {
        attribute.key == "rtpmap"
            && attribute.value.as_deref().is_some_and(|value| {
                let mut parts = value.splitn(2, ' ');
                let payload_type = parts.next().unwrap_or("");
                let codec = parts.next().unwrap_or("").to_ascii_lowercase();
                codec.starts_with("opus/48000")
                    && audio.media_name.formats.iter().any(|f| f == payload_type)
            })
    });
    if !opus {
        return Err(invalid(
            "the SDP offer's audio section does not offer Opus (opus/48000/2); register Opus in the media engine",
        ));
    }
    if ["recvonly", "inactive"]
        .iter()
        .any(|d| audio.attribute(d).is_some())
    {
        return Err(invalid(
            "the SDP offer's audio section does not send audio (recvonly/inactive); add the microphone track before making the offer",
        ));
    }
    let data: Vec<_> = media
        .iter()
        .filter(|m| m.media_name.media == "application")
        .collect();
    let datachannel = data.len() == 1
        && data[0]
            .media_name
            .protos
            .iter()
            .any(|p| p.eq_ignore_ascii_case("SCTP"))
        && data[0]
            .media_name
            .formats
            .iter()
            .any(|f| f == "webrtc-datachannel");
    if !datachannel {
        return Err(invalid(
            "the SDP offer needs exactly one data-channel section; create the \"oai-events\" channel before making the offer",
        ));
    }
    let session_attribute = |key: &str| session.attributes.iter().any(|a| a.key == key);
    let everywhere = |key: &str| {
        session_attribute(key) || [audio, data[0]].iter().all(|m| m.attribute(key).is_some())
    };
    for (key, what) in [
        ("ice-ufrag", "ICE username fragment (a=ice-ufrag)"),
        ("ice-pwd", "ICE password (a=ice-pwd)"),
        ("fingerprint", "DTLS fingerprint (a=fingerprint)"),
    ] {
        if !everywhere(key) {
            return Err(invalid(format!(
                "the SDP offer has no {what}; send the local description as created"
            )));
        }
    }
    let n_candidates = media
        .iter()
        .flat_map(|m| m.attributes.iter())
        .filter(|a| a.key == "candidate")
        .count();
    if n_candidates == 0 {
        return Err(invalid(
            "the SDP offer has no ICE candidates: wait for ICE gathering to complete before sending it",
        ));
    }
    Ok(OfferSummary { n_candidates })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "v=0\r\no=- 123 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
        a=fingerprint:sha-256 CA:92:52:51:B4:91:3B:34:DD:9C:0B:FB:76:19:7E:3B:F1:21:0F:32:2C:38:01:72:5D:3F:78:C7:5F:8B:C7:36\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
        a=setup:actpass\r\na=rtcp-mux\r\na=sendrecv\r\na=rtpmap:111 opus/48000/2\r\n\
        a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\n\
        m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=ice-ufrag:abcd\r\n\
        a=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=setup:actpass\r\na=sctp-port:5000\r\n";

    fn check(offer: &str, expected: Result<usize, &str>) {
        match (validate_offer(offer), expected) {
            (Ok(summary), Ok(n)) => assert_eq!(summary.n_candidates, n),
            (Err(err), Err(fragment)) => assert!(
                err.to_string().contains(fragment),
                "{err} should mention {fragment:?}"
            ),
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    /// A bounded fuzz run on stable Rust: thousands of mutations of a valid offer (byte flips,
    /// dropped and duplicated lines, truncation, random bytes) must each be accepted or refused
    /// with an `invalid_sdp` error — never a panic. (`cargo fuzz` needs a nightly toolchain,
    /// which our machines do not have.)
    #[test]
    fn mutated_offers_never_panic() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let lines: Vec<&str> = GOOD.split("\r\n").collect();
        for _ in 0..20_000 {
            let mut bytes: Vec<u8> = match next() % 4 {
                0 => {
                    let mut bytes = GOOD.as_bytes().to_vec();
                    for _ in 0..(next() % 8 + 1) {
                        let at = (next() as usize) % bytes.len();
                        bytes[at] = next() as u8;
                    }
                    bytes
                }
                1 => {
                    let mut kept: Vec<&str> = lines.clone();
                    let at = (next() as usize) % kept.len();
                    if next() % 2 == 0 {
                        kept.remove(at);
                    } else {
                        kept.insert(at, lines[(next() as usize) % lines.len()]);
                    }
                    kept.join("\r\n").into_bytes()
                }
                2 => GOOD.as_bytes()[..(next() as usize) % GOOD.len()].to_vec(),
                _ => (0..(next() % 300)).map(|_| next() as u8).collect(),
            };
            bytes.truncate(MAX_OFFER_BYTES + 10);
            let text = String::from_utf8_lossy(&bytes);
            if let Err(err) = validate_offer(&text) {
                assert_eq!(err.status_and_code().1, "invalid_sdp");
            }
        }
    }

    #[test]
    fn offers_are_checked_with_a_reason_for_each_refusal() {
        check(GOOD, Ok(1));
        check("", Err("empty"));
        check("hello", Err("does not parse"));
        check(&"a".repeat(MAX_OFFER_BYTES + 1), Err("over the"));
        check(
            &GOOD.replace("opus/48000/2", "PCMU/8000"),
            Err("does not offer Opus"),
        );
        check(
            &GOOD.replace("a=sendrecv", "a=recvonly"),
            Err("does not send audio"),
        );
        check(
            &GOOD.replace(
                "a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\n",
                "",
            ),
            Err("no ICE candidates"),
        );
        check(
            &GOOD.replace("a=fingerprint", "a=fingerprnt"),
            Err("DTLS fingerprint"),
        );
        check(
            &GOOD.replace(
                "a=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=setup:actpass\r\na=rtcp-mux",
                "a=setup:actpass\r\na=rtcp-mux",
            ),
            Err("ICE password"),
        );
        let no_data = &GOOD[..GOOD.find("m=application").unwrap()];
        check(no_data, Err("data-channel section"));
        let two_audio = GOOD.replace(
            "m=application",
            "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\nm=application",
        );
        check(&two_audio, Err("2 audio sections"));
        let video = GOOD.replace(
            "m=application",
            "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\nm=application",
        );
        check(&video, Err("video"));
    }
}
