//! Connections as the engine's steps see them (`engine::connections::ConnectionSource`):
//! id, provider, status and base URL, and the credentials only as the header of the request
//! about to be sent (an oauth2 connection's access token refreshed when due) or, for an
//! email step, as an smtp connection's server settings.

use engine::connections::{ConnectionRef, ConnectionSource, Presented};

use super::{ConnectionError, ConnectionInfo, Connections, Status};

fn as_ref(info: ConnectionInfo) -> ConnectionRef {
    ConnectionRef {
        active: info.status == Status::Active,
        id: info.id,
        provider: info.provider,
        base_url: info.base_url,
    }
}

#[async_trait::async_trait]
impl ConnectionSource for Connections {
    async fn get(&self, id: &str) -> Result<Option<ConnectionRef>, String> {
        match self.live(id).await {
            Ok(record) => Ok(Some(as_ref(record.info))),
            Err(ConnectionError::NotFound(_)) => Ok(None),
            Err(error) => Err(error.to_string()),
        }
    }

    async fn of_provider(&self, provider: &str) -> Result<Vec<ConnectionRef>, String> {
        let all = self
            .live_records()
            .await
            .map_err(|error| error.to_string())?;
        Ok(all
            .into_iter()
            .map(|record| record.info)
            .filter(|info| info.provider == provider)
            .map(as_ref)
            .collect())
    }

    async fn present(&self, id: &str) -> Result<Presented, String> {
        let (name, value) = self
            .authorization(id)
            .await
            .map_err(|error| error.to_string())?;
        let value = value
            .to_str()
            .map_err(|_| format!("connection {id}: its header value is not text"))?
            .to_owned();
        Ok(Presented {
            headers: vec![(name.as_str().to_owned(), value)],
        })
    }

    async fn smtp(&self, id: &str) -> Result<mail::SmtpSettings, String> {
        self.smtp_settings(id)
            .await
            .map_err(|error| error.to_string())
    }
}
