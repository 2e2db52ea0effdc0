//! Connected hubs and the requests the edge sends down their uplinks
//! (history ranges older than the hot window), matched to answers by id.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proto::{edge_frame, EdgeFrame};
use tokio::sync::{mpsc, oneshot};

/// How long the edge waits for a hub to answer a request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<proto::UplinkResponse>>>>;

/// The send side of one hub's uplink session.
#[derive(Clone)]
pub struct HubLink {
    /// Identifies this session, so a stale session cannot unregister a newer one.
    pub session: u64,
    pub tx: mpsc::Sender<EdgeFrame>,
    pending: Pending,
}

impl HubLink {
    pub fn new(session: u64, tx: mpsc::Sender<EdgeFrame>) -> Self {
        Self {
            session,
            tx,
            pending: Arc::default(),
        }
    }

    /// Delivers a hub's answer to whoever asked.
    pub fn resolve(&self, resp: proto::UplinkResponse) {
        let waiter = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&resp.request_id);
        if let Some(w) = waiter {
            let _ = w.send(resp);
        }
    }
}

#[derive(Default)]
pub struct Hubs {
    links: Mutex<HashMap<String, HubLink>>,
    next_id: AtomicU64,
}

impl Hubs {
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn register(&self, hub_id: &str, link: HubLink) {
        self.links
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(hub_id.to_owned(), link);
    }

    pub fn unregister(&self, hub_id: &str, session: u64) {
        let mut links = self.links.lock().unwrap_or_else(|p| p.into_inner());
        if links.get(hub_id).is_some_and(|l| l.session == session) {
            links.remove(hub_id);
        }
    }

    /// Ids of the hubs connected now, sorted.
    pub fn connected(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .links
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        ids.sort();
        ids
    }

    pub fn count(&self) -> usize {
        self.links.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Sends `query` to `hub_id` and waits for its answer.
    pub async fn ask(
        &self,
        hub_id: &str,
        query: proto::uplink_request::Query,
    ) -> Result<proto::UplinkResponse, String> {
        let link = self
            .links
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(hub_id)
            .cloned()
            .ok_or_else(|| format!("hub {hub_id} is not connected"))?;
        let request_id = self.next_id();
        let (tx, rx) = oneshot::channel();
        link.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(request_id, tx);
        let frame = EdgeFrame {
            msg: Some(edge_frame::Msg::Request(proto::UplinkRequest {
                request_id,
                query: Some(query),
            })),
        };
        let result = async {
            link.tx
                .send(frame)
                .await
                .map_err(|_| format!("hub {hub_id} disconnected"))?;
            match tokio::time::timeout(REQUEST_TIMEOUT, rx).await {
                Ok(Ok(resp)) if resp.error.is_empty() => Ok(resp),
                Ok(Ok(resp)) => Err(format!("hub {hub_id}: {}", resp.error)),
                Ok(Err(_)) => Err(format!("hub {hub_id} disconnected")),
                Err(_) => Err(format!(
                    "hub {hub_id} did not answer within {REQUEST_TIMEOUT:?}"
                )),
            }
        }
        .await;
        link.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&request_id);
        result
    }
}
