//! Datasets as both the pages and the API take them: reading an upload form, checking and storing the
//! file, and the shape a dataset is shown in.

use axum::extract::Multipart;
use serde::Serialize;
use utoipa::ToSchema;

use super::models::{self, Dataset};
use super::upload;
use crate::error::{AppError, FieldErrors, Result};
use crate::http::api;
use crate::state::AppState;

/// Rows shown with a dataset.
pub const PREVIEW_ROWS: u64 = 20;
/// Longest dataset name.
pub const MAX_DATASET_NAME: usize = 200;
/// Longest name of an uploaded file (its last path component).
pub const MAX_FILENAME: usize = 255;

/// The fields of a dataset upload form (API and page alike).
pub struct Upload {
    pub name: String,
    /// As the client named it; shown, never used as a path.
    pub filename: String,
    /// `None` when no `file` field was sent.
    pub bytes: Option<axum::body::Bytes>,
    /// Names of the other fields sent: the page's form has its own, the API refuses any.
    pub others: Vec<String>,
}

impl Upload {
    /// The upload, if it has no fields besides `file` and `name` (the API's documented form).
    pub fn only_documented_fields(self) -> Result<Self> {
        match self.others.first() {
            None => Ok(self),
            Some(other) => Err(AppError::invalid(
                other,
                "is not a field of this form (send `file` and optionally `name`)",
            )),
        }
    }
}

pub async fn read_upload(multipart: Multipart) -> Result<Upload> {
    let mut form = crate::http::forms::MultipartForm::read(multipart, &["file"]).await?;
    let file = form.take_file_part("file");
    let name = form.take_text("name");
    Ok(Upload {
        name,
        filename: file
            .as_ref()
            .map(|f| f.filename.clone())
            .unwrap_or_default(),
        bytes: file.map(|f| f.bytes),
        others: form.text_names().map(str::to_string).collect(),
    })
}

/// Checks and stores an upload; problems are reported on the `file` field, each with its line.
pub async fn store_upload(
    state: &AppState,
    owner_id: i64,
    name: &str,
    filename: &str,
    bytes: &[u8],
) -> Result<Dataset> {
    let max_bytes = state.settings.sentiment_max_dataset_bytes;
    if bytes.len() > max_bytes {
        return Err(AppError::PayloadTooLarge(format!(
            "file is larger than the dataset limit of {} KiB",
            max_bytes / 1024
        )));
    }
    if bytes.is_empty() && filename.is_empty() {
        return Err(AppError::invalid("file", "is required"));
    }
    let max_rows = state.settings.sentiment_max_dataset_rows;
    let owned = bytes.to_vec();
    static PARSING: crate::blocking::Lane = crate::blocking::Lane::per_core();
    let parsed = PARSING
        .run(move || upload::parse(&owned, max_rows))
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    let parsed = parsed.map_err(|problems| {
        let mut errors = FieldErrors::new();
        for p in problems {
            errors.add("file", p);
        }
        AppError::Validation(errors)
    })?;
    let filename = clean_filename(filename);
    if filename.chars().count() > MAX_FILENAME {
        return Err(AppError::invalid(
            "file",
            format!("its name is too long (maximum is {MAX_FILENAME} characters); rename the file"),
        ));
    }
    let name = match name.trim() {
        "" => filename
            .rsplit_once('.')
            .map(|(stem, _)| stem)
            .unwrap_or(&filename)
            .to_string(),
        n => n.to_string(),
    };
    if name.chars().count() > MAX_DATASET_NAME {
        return Err(AppError::invalid(
            "name",
            format!(
                "is too long (maximum is {MAX_DATASET_NAME} characters; without a name, the file's name is used)"
            ),
        ));
    }
    let txn = state.db.begin().await?;
    if let Err(full) = crate::db::check_quota(
        &txn,
        "sentiment_datasets",
        owner_id,
        "SELECT COUNT(*) AS n FROM sentiment_datasets WHERE owner_id = $1",
        state.settings.quota_datasets,
    )
    .await?
    {
        return Err(AppError::invalid(
            "file",
            format!(
                "you already have {} datasets, the most allowed; delete one first",
                full.limit
            ),
        ));
    }
    let ds = models::create_dataset(&txn, owner_id, &name, &filename, bytes.len(), &parsed).await?;
    txn.commit().await?;
    Ok(ds)
}

/// The client's file name is only shown, never used as a path; keep its last component, printable.
fn clean_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base.chars().filter(|c| !c.is_control()).collect();
    if cleaned.trim().is_empty() {
        "upload.csv".into()
    } else {
        cleaned
    }
}

#[derive(Serialize, ToSchema)]
pub struct DatasetBody {
    id: i64,
    name: String,
    /// As uploaded (for display only).
    filename: String,
    rows: i32,
    /// Rows with a label.
    labeled: i32,
    /// Labelled rows that are positive.
    positive: i32,
    size_bytes: i64,
    created_at: String,
    pub url: String,
}

pub fn dataset_body(state: &AppState, d: &Dataset) -> DatasetBody {
    DatasetBody {
        id: d.id,
        name: d.name.clone(),
        filename: d.filename.clone(),
        rows: d.row_count,
        labeled: d.labeled_count,
        positive: d.positive_count,
        size_bytes: d.size_bytes,
        created_at: api::timestamp(&d.created_at),
        url: format!(
            "{}/api/sentiment/datasets/{}",
            state.settings.base_url(),
            d.id
        ),
    }
}

pub fn label_name(label: Option<i16>) -> Option<String> {
    label.map(|l| if l == 1 { "positive" } else { "negative" }.to_string())
}
