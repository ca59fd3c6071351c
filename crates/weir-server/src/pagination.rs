//! `limit` / `offset` paging with Airflow's rules: `limit` defaults to 100, `0` means the
//! default, values over the maximum are capped (Airflow's `maximum_page_limit`), and
//! negative or non-numeric values are a 400.

use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{Required, schema};

use crate::ApiConfig;
use crate::error::ApiError;
use crate::extract::QueryParams;

/// One page of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pagination {
    pub limit: i64,
    pub offset: i64,
}

impl Pagination {
    /// Reads `limit` and `offset` from the query.
    pub fn from_query(q: &QueryParams, config: &ApiConfig) -> Result<Self, ApiError> {
        let limit = match q.i64("limit")? {
            None | Some(0) => config.default_page_limit,
            Some(l) if l < 0 => {
                return Err(ApiError::bad_request(format!(
                    "Page limit must be a positive integer, not {l}"
                )));
            }
            Some(l) => l.min(config.max_page_limit),
        };
        let offset = match q.i64("offset")? {
            None => 0,
            Some(o) if o < 0 => {
                return Err(ApiError::bad_request(format!(
                    "offset must be 0 or more, not {o}"
                )));
            }
            Some(o) => o,
        };
        Ok(Pagination { limit, offset })
    }

    /// This page of a list held in memory.
    pub fn slice<T>(&self, items: Vec<T>) -> Vec<T> {
        let offset = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        items.into_iter().skip(offset).take(limit).collect()
    }
}

/// `limit` and `offset` in the OpenAPI document (`params(Pagination)`).
impl IntoParams for Pagination {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let param = |name: &str, minimum: f64, description: &str| {
            let schema = schema::ObjectBuilder::new()
                .schema_type(schema::Type::Integer)
                .minimum(Some(minimum));
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(description))
                .schema(Some(schema))
                .build()
        };
        vec![
            param(
                "limit",
                0.0,
                "The numbers of items to return (default 100, capped at the maximum page \
                 limit; 0 means the default).",
            ),
            param(
                "offset",
                0.0,
                "The number of items to skip before starting to collect the result set.",
            ),
        ]
    }
}

/// The sort key and direction of an `order_by` parameter (`-` prefix: descending).
pub fn order_by(q: &QueryParams) -> Option<(&str, bool)> {
    q.str("order_by").map(|o| match o.strip_prefix('-') {
        Some(field) => (field, true),
        None => (o, false),
    })
}

/// The 400 for an `order_by` field that cannot be sorted on, worded as Airflow's.
pub fn bad_order_by(field: &str, allowed: &[&str]) -> ApiError {
    ApiError::bad_request(format!(
        "Ordering with '{field}' is disallowed or the attribute does not exist on the model; \
         use one of: {}",
        allowed.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(q: &str) -> Result<Pagination, ApiError> {
        Pagination::from_query(&QueryParams::parse(q), &ApiConfig::default())
    }

    #[test]
    fn airflow_paging_rules() {
        assert_eq!(
            page("").unwrap(),
            Pagination {
                limit: 100,
                offset: 0
            }
        );
        assert_eq!(
            page("limit=0&offset=3").unwrap(),
            Pagination {
                limit: 100,
                offset: 3
            }
        );
        assert_eq!(
            page("limit=5000").unwrap().limit,
            ApiConfig::default().max_page_limit
        );
        assert!(page("limit=-1").is_err());
        assert!(page("offset=-1").is_err());
        assert!(page("limit=ten").is_err());
        let p = Pagination {
            limit: 2,
            offset: 1,
        };
        assert_eq!(p.slice(vec![1, 2, 3, 4]), vec![2, 3]);
        assert_eq!(
            order_by(&QueryParams::parse("order_by=-start_date")),
            Some(("start_date", true))
        );
    }
}
