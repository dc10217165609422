//! Peer-connection plumbing shared by the emulator's answerer and the tests' offerer
//! (webrtc-rs 0.21): an Opus-only media engine, a builder bound to one address, and a switch
//! that cuts a peer's network as a dead Wi-Fi link does.

use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use rtc::peer_connection::configuration::media_engine::MIME_TYPE_OPUS;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, Registry,
    SettingEngineBuilder, register_default_interceptors,
};
use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, RecvMeta, Runtime,
    TokioRuntime, Transmit,
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
/// `ice_check_interval` shortens the connectivity-check timer (library default 200 ms); with
/// `network`, the peer's UDP goes through that switch.
pub async fn build_opus_peer(
    handler: Arc<dyn PeerConnectionEventHandler>,
    udp_addr: String,
    ice_check_interval: Option<Duration>,
    network: Option<NetworkSwitch>,
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
    let mut builder = PeerConnectionBuilder::new()
        .with_media_engine(media_engine)
        .with_interceptor_registry(registry)
        .with_setting_engine(setting_engine)
        .with_handler(handler)
        .with_udp_addrs(vec![udp_addr]);
    if let Some(network) = network {
        builder = builder.with_runtime(Arc::new(SwitchedRuntime(network)));
    }
    // The builder's future is large; box it rather than carry it on every caller's stack.
    let peer = Box::pin(builder.build()).await?;
    Ok(Arc::new(peer))
}

/// A peer's network, which a test can cut: while it is down every datagram the peer sends is
/// lost and every one sent to it is dropped unread, so ICE consent fails on both sides as when
/// a Wi-Fi link dies. Clones share the one switch.
#[derive(Debug, Clone, Default)]
pub struct NetworkSwitch(Arc<AtomicBool>);

impl NetworkSwitch {
    /// Cuts the network (`true`) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.0.store(down, Ordering::SeqCst);
    }

    /// Whether the network is cut.
    pub fn is_down(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Tokio's runtime for webrtc-rs, but with each UDP socket behind the switch.
#[derive(Debug)]
struct SwitchedRuntime(NetworkSwitch);

impl Runtime for SwitchedRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        TokioRuntime.spawn(future)
    }

    fn spawn_reactor(
        &self,
        reactor_pool_size: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn JoinHandle> {
        TokioRuntime.spawn_reactor(reactor_pool_size, future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        Ok(Arc::new(SwitchedSocket {
            inner: TokioRuntime.wrap_udp_socket(socket)?,
            network: self.0.clone(),
        }))
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        TokioRuntime.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Arc<dyn AsyncTcpStream>>> + Send + 'a>> {
        TokioRuntime.connect_tcp(remote_addr)
    }

    fn resolve_host<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        TokioRuntime.resolve_host(host)
    }

    fn now(&self) -> Instant {
        TokioRuntime.now()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        TokioRuntime.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        TokioRuntime.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        TokioRuntime.block_on(future)
    }

    fn yield_now(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        TokioRuntime.yield_now()
    }

    fn name(&self) -> &'static str {
        "tokio behind a network switch"
    }
}

/// A UDP socket that loses everything while its network is down.
#[derive(Debug)]
struct SwitchedSocket {
    inner: Arc<dyn AsyncUdpSocket>,
    network: NetworkSwitch,
}

impl AsyncUdpSocket for SwitchedSocket {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn poll_send(&self, cx: &mut Context<'_>, transmit: &Transmit<'_>) -> Poll<io::Result<usize>> {
        if self.network.is_down() {
            // Sent, as far as the peer can tell, and lost on the way.
            return Poll::Ready(Ok(transmit.contents.len()));
        }
        self.inner.poll_send(cx, transmit)
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        loop {
            let received = ready!(self.inner.poll_recv(cx, bufs, meta))?;
            if !self.network.is_down() {
                return Poll::Ready(Ok(received));
            }
            // Dropped unread; polled again so the socket wakes this task for the next one.
        }
    }

    fn max_gso_segments(&self) -> usize {
        self.inner.max_gso_segments()
    }

    fn max_gro_segments(&self) -> usize {
        self.inner.max_gro_segments()
    }
}
