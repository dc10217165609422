//! Peer-connection plumbing shared by the emulator's answerer and the tests' offerer
//! (webrtc-rs 0.21): an Opus-only media engine and a builder bound to one address.

use std::sync::Arc;
use std::time::Duration;

use rtc::peer_connection::configuration::media_engine::MIME_TYPE_OPUS;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, Registry,
    SettingEngineBuilder, register_default_interceptors,
};

/// The payload type OpenAI's answer uses for Opus.
pub const OPUS_PAYLOAD_TYPE: u8 = 111;

/// Opus as WebRTC declares it: 48 kHz, *two* channels in SDP even when the audio is mono.
pub fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

/// Builds a peer connection that speaks only Opus audio (plus data channels), with its host
/// candidates on `udp_addr` (`127.0.0.1:0` for loopback only).
///
/// `ice_check_interval` shortens the connectivity-check timer (library default 200 ms).
pub async fn build_opus_peer(
    handler: Arc<dyn PeerConnectionEventHandler>,
    udp_addr: String,
    ice_check_interval: Option<Duration>,
) -> anyhow::Result<Arc<dyn PeerConnection>> {
    let mut media_engine = MediaEngine::default();
    media_engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: opus_codec(),
            payload_type: OPUS_PAYLOAD_TYPE,
        },
        RtpCodecKind::Audio,
    )?;
    let registry = register_default_interceptors(Registry::new(), &mut media_engine)?;
    let setting_engine = SettingEngineBuilder::new()
        .with_ice_connection_attempts(ice_check_interval, None)
        .build();
    // The builder's future is large; box it rather than carry it on every caller's stack.
    let peer = Box::pin(
        PeerConnectionBuilder::new()
            .with_media_engine(media_engine)
            .with_interceptor_registry(registry)
            .with_setting_engine(setting_engine)
            .with_handler(handler)
            .with_udp_addrs(vec![udp_addr])
            .build(),
    )
    .await?;
    Ok(Arc::new(peer))
}
