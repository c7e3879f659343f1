//! The success envelope `{"success": true, "data": ...}` and list pages
//! `{"success": true, "data": [...], "pagination": {"nextCursor", "limit"}}`.
//!
//! Each resource declares its envelopes with [`success_envelope!`] and [`page_envelope!`]: a
//! named type per body (`WorkflowResponse`, `RunListResponse`, ...), so the document has one
//! schema per answer and handlers build exactly that type.

use serde::Serialize;
use utoipa::ToSchema;

/// How to get the next page of a list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
    /// The page size used.
    pub limit: u64,
}

/// Declares `$name`, the success envelope of one `$data`: `{"success": true, "data"}`.
macro_rules! success_envelope {
    ($(#[$doc:meta])* $name:ident, $data:ty) => {
        $(#[$doc])*
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            /// Always `true`.
            #[schema(example = true)]
            pub success: bool,
            pub data: $data,
        }

        impl $name {
            pub fn new(data: $data) -> $name {
                $name { success: true, data }
            }
        }
    };
}

/// Declares `$name`, a page of `$item`s: `{"success": true, "data": [...], "pagination"}`.
macro_rules! page_envelope {
    ($(#[$doc:meta])* $name:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            /// Always `true`.
            #[schema(example = true)]
            pub success: bool,
            pub data: Vec<$item>,
            pub pagination: $crate::contract::Pagination,
        }

        impl $name {
            /// A page of `items`; `next_cursor` is `None` on the last page.
            pub fn new(items: Vec<$item>, next_cursor: Option<String>, limit: usize) -> $name {
                $name {
                    success: true,
                    data: items,
                    pagination: $crate::contract::Pagination {
                        next_cursor,
                        limit: limit as u64,
                    },
                }
            }

            /// Every item in one page (the page's limit is the count).
            pub fn all(items: Vec<$item>) -> $name {
                let count = items.len();
                $name::new(items, None, count)
            }
        }
    };
}

pub(crate) use page_envelope;
pub(crate) use success_envelope;
