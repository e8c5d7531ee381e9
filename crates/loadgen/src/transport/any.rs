//! [`connect`] to any [`Endpoint`] and the [`AnyTransport`] enum it returns, which
//! implements [`Transport`] by delegation (static dispatch; the runner needs no `dyn`).

use std::time::Duration;

use super::sio_polling::SioPollingTransport;
use super::sio_ws::SioWsTransport;
use super::tcp::TcpTransport;
use super::ws::WsTransport;
use super::{
    ByteCounts, Endpoint, Incoming, Outgoing, RxStamp, SioTransport, Transport, TransportError,
    sio_upgrade,
};

/// A connection of any protocol.
pub enum AnyTransport {
    Tcp(TcpTransport),
    Ws(WsTransport),
    /// Socket.IO on WebSocket (straight, or upgraded from polling).
    Sio(SioWsTransport),
    /// Socket.IO on long-polling only.
    SioPolling(SioPollingTransport),
}

/// A readable name for error messages.
pub fn describe(endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Tcp(addr) => format!("tcp://{addr}"),
        Endpoint::Ws { host, path, .. } => format!("ws://{host}{path}"),
        Endpoint::Sio {
            host, transport, ..
        } => format!("http://{host}/socket.io/ ({transport:?})"),
    }
}

/// Connects and completes every handshake within `timeout`.
pub async fn connect(
    endpoint: &Endpoint,
    timeout: Duration,
) -> Result<AnyTransport, TransportError> {
    let attempt = async {
        Ok(match endpoint {
            Endpoint::Tcp(addr) => AnyTransport::Tcp(TcpTransport::connect(*addr).await?),
            Endpoint::Ws { addr, host, path } => {
                AnyTransport::Ws(WsTransport::connect(*addr, host, path).await?)
            }
            Endpoint::Sio {
                addr,
                host,
                transport,
                auth,
                origin,
            } => {
                let connect = connect_packet(auth.as_deref());
                match transport {
                    SioTransport::WebSocket => {
                        AnyTransport::Sio(SioWsTransport::connect(*addr, host, &connect).await?)
                    }
                    SioTransport::Polling => AnyTransport::SioPolling(
                        SioPollingTransport::connect(*addr, host, &connect, origin.as_deref())
                            .await?,
                    ),
                    SioTransport::PollingThenUpgrade => {
                        AnyTransport::Sio(sio_upgrade::connect(*addr, host, &connect).await?)
                    }
                }
            }
        })
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(TransportError::Handshake {
            endpoint: describe(endpoint),
            reason: format!("not connected within {timeout:?}"),
        }),
    }
}

/// The Socket.IO CONNECT packet for namespace `/`: `40`, or `40{auth}` with an auth object.
pub(crate) fn connect_packet(auth: Option<&str>) -> String {
    format!("40{}", auth.unwrap_or(""))
}

impl AnyTransport {
    /// Engine.IO pings answered so far (0 for raw targets, whose WebSocket pings tungstenite
    /// answers without counting).
    pub fn pings(&self) -> u64 {
        match self {
            AnyTransport::Tcp(_) | AnyTransport::Ws(_) => 0,
            AnyTransport::Sio(t) => t.pings(),
            AnyTransport::SioPolling(t) => t.pings(),
        }
    }

    /// A watch on the Engine.IO ping count (Socket.IO transports only).
    pub fn ping_watch(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        match self {
            AnyTransport::Tcp(_) | AnyTransport::Ws(_) => None,
            AnyTransport::Sio(t) => Some(t.ping_watch()),
            AnyTransport::SioPolling(t) => Some(t.ping_watch()),
        }
    }
}

macro_rules! delegate {
    ($self:ident, $t:ident => $e:expr) => {
        match $self {
            AnyTransport::Tcp($t) => $e,
            AnyTransport::Ws($t) => $e,
            AnyTransport::Sio($t) => $e,
            AnyTransport::SioPolling($t) => $e,
        }
    };
}

impl Transport for AnyTransport {
    fn socket_id(&self) -> &str {
        delegate!(self, t => t.socket_id())
    }

    fn connect_time(&self) -> Duration {
        delegate!(self, t => t.connect_time())
    }

    async fn send(&mut self, req: Outgoing<'_>) -> Result<(), TransportError> {
        delegate!(self, t => t.send(req).await)
    }

    async fn recv(&mut self) -> Result<Incoming, TransportError> {
        delegate!(self, t => t.recv().await)
    }

    fn last_rx(&self) -> Option<RxStamp> {
        delegate!(self, t => t.last_rx())
    }

    async fn close(&mut self) -> Result<(), TransportError> {
        delegate!(self, t => t.close().await)
    }

    fn bytes(&self) -> ByteCounts {
        delegate!(self, t => t.bytes())
    }

    fn last_ns(&self) -> usize {
        delegate!(self, t => t.last_ns())
    }

    async fn follow(
        &mut self,
        more: &[String],
        auth: Option<&str>,
        send_in: usize,
    ) -> Result<(), TransportError> {
        delegate!(self, t => t.follow(more, auth, send_in).await)
    }

    fn preflights(&self) -> u64 {
        delegate!(self, t => t.preflights())
    }
}
