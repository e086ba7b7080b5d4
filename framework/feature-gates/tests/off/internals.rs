// The registration records, the graph and the container are not public API: only the macros'
// generated code names them, through `framework::__private`.
use framework::di::{BuildContext, Container, Graph, ProviderRecord};
use framework::error::ErrorCodeRecord;
use framework::di::container::Instance;
use framework::registry::ProviderKind;

fn main() {}
