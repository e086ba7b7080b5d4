//! The article service over gRPC, through a real tonic client on a real TCP port, on SQLite
//! and on PostgreSQL: every RPC, the error mapping with `google.rpc` details, the request id,
//! health and reflection.

mod common;

use common::Api;
use example_service::proto::article::v1 as pb;
use example_service::proto::article::v1::article_service_client::ArticleServiceClient;
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

#[tokio::test]
async fn article_rpcs_on_sqlite() {
    let api = Api::sqlite(&[]).await;
    exercise(&api).await;
    api.app.shutdown().await.expect("graceful shutdown");
}

#[tokio::test]
async fn article_rpcs_on_postgres() {
    let api = Api::postgres(&[]).await;
    exercise(&api).await;
    api.app.shutdown().await.expect("graceful shutdown");
}

async fn channel(api: &Api) -> Channel {
    let url = api.app.grpc_url().expect("the service has a gRPC port");
    Channel::from_shared(url)
        .unwrap()
        .connect()
        .await
        .expect("connect to gRPC")
}

async fn exercise(api: &Api) {
    let channel = channel(api).await;
    let mut client = ArticleServiceClient::new(channel.clone());
    rpcs(&mut client).await;
    errors(&mut client).await;
    request_id(&mut client).await;
    health(channel.clone()).await;
    reflection(channel).await;
}

fn create(name: &str, description: &str) -> pb::CreateArticleRequest {
    pb::CreateArticleRequest {
        name: name.into(),
        description: description.into(),
    }
}

async fn rpcs(client: &mut ArticleServiceClient<Channel>) {
    let created = client
        .create_article(create("Over gRPC", "Created by tonic"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.name, "Over gRPC");
    assert!(uuid::Uuid::parse_str(&created.id).is_ok());
    assert_eq!(created.created_at, created.updated_at);

    let fetched = client
        .get_article(pb::GetArticleRequest {
            id: created.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched, created);

    client
        .create_article(create("Second one", "Another article"))
        .await
        .unwrap();
    let page = client
        .list_articles(pb::ListArticlesRequest {
            limit: Some(1),
            offset: Some(1),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (page.total, page.limit, page.offset, page.items.len()),
        (2, 1, 1, 1)
    );
    assert_eq!(page.items[0].name, "Second one");
    let page = client
        .list_articles(pb::ListArticlesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (page.limit, page.items.len()),
        (20, 2),
        "ARTICLES_DEFAULT_PAGE_SIZE"
    );

    let updated = client
        .update_article(pb::UpdateArticleRequest {
            id: created.id.clone(),
            name: "Renamed over gRPC".into(),
            description: "Updated by tonic".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.name, "Renamed over gRPC");
    assert_eq!(updated.created_at, created.created_at);

    client
        .delete_article(pb::DeleteArticleRequest {
            id: created.id.clone(),
        })
        .await
        .unwrap();
    let gone = client
        .get_article(pb::GetArticleRequest { id: created.id })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

async fn errors(client: &mut ArticleServiceClient<Channel>) {
    let invalid = client
        .create_article(create("ab", "   "))
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    let details = invalid.get_error_details();
    assert_eq!(details.error_info().unwrap().reason, "VALIDATION_FAILED");
    let mut violations: Vec<(String, String)> = details
        .bad_request()
        .unwrap()
        .field_violations
        .iter()
        .map(|v| (v.field.clone(), v.description.clone()))
        .collect();
    violations.sort();
    assert_eq!(
        violations,
        [
            (
                "description".to_owned(),
                "must be between 5 and 100 characters".to_owned()
            ),
            ("description".to_owned(), "must not be blank".to_owned()),
            (
                "name".to_owned(),
                "must be between 3 and 50 characters".to_owned()
            ),
        ]
    );

    let bad_id = client
        .get_article(pb::GetArticleRequest {
            id: "not-a-uuid".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_id.code(), Code::InvalidArgument);
    assert_eq!(
        bad_id
            .get_error_details()
            .bad_request()
            .unwrap()
            .field_violations[0]
            .field,
        "id"
    );

    let bad_limit = client
        .list_articles(pb::ListArticlesRequest {
            limit: Some(5000),
            offset: None,
        })
        .await
        .unwrap_err();
    assert_eq!(bad_limit.code(), Code::InvalidArgument);

    let missing = uuid::Uuid::new_v4().to_string();
    let not_found = client
        .get_article(pb::GetArticleRequest {
            id: missing.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(not_found.code(), Code::NotFound);
    assert_eq!(not_found.message(), format!("article {missing} not found"));
    let info = not_found.get_error_details().error_info().cloned().unwrap();
    assert_eq!(
        (info.reason.as_str(), info.domain.as_str()),
        ("ARTICLE_NOT_FOUND", "example-service")
    );
    let delete_missing = client
        .delete_article(pb::DeleteArticleRequest { id: missing })
        .await
        .unwrap_err();
    assert_eq!(delete_missing.code(), Code::NotFound);

    client
        .create_article(create("Taken name", "First holder"))
        .await
        .unwrap();
    let taken = client
        .create_article(create("Taken name", "Second holder"))
        .await
        .unwrap_err();
    assert_eq!(taken.code(), Code::AlreadyExists);
    assert_eq!(
        taken.get_error_details().error_info().unwrap().reason,
        "ARTICLE_NAME_TAKEN"
    );
}

async fn request_id(client: &mut ArticleServiceClient<Channel>) {
    let mut request = Request::new(pb::ListArticlesRequest::default());
    request
        .metadata_mut()
        .insert("x-request-id", "grpc-call-7".parse().unwrap());
    let response = client.list_articles(request).await.unwrap();
    assert_eq!(
        response.metadata().get("x-request-id").unwrap(),
        "grpc-call-7"
    );

    let response = client
        .list_articles(pb::ListArticlesRequest::default())
        .await
        .unwrap();
    let generated = response
        .metadata()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        uuid::Uuid::parse_str(generated).is_ok(),
        "generated: {generated}"
    );
}

async fn health(channel: Channel) {
    let mut health = HealthClient::new(channel);
    for service in ["", "database", "article.v1.ArticleService"] {
        let response = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|e| panic!("health of {service:?}: {e}"))
            .into_inner();
        assert_eq!(response.status(), ServingStatus::Serving, "{service:?}");
    }
    let unknown = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

async fn reflection(channel: Channel) {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().expect("one response");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("not a service list: {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"article.v1.ArticleService".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_owned()),
        "{names:?}"
    );
}
