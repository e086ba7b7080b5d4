#[grpc_service(authenticated, rate_limit = "${ARTICLES_RATE_LIMIT}")]
impl article_service_server::ArticleService for ArticleGrpc {
    #[rpc(public)]
    async fn get_article(
        &self,
        request: Request<pb::GetArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        let id = parse_id(&request.into_inner().id)?;
        Ok(Response::new(self.articles.get(id).await?.into()))
    }
}
