//! The sentiment app's models as the admin, the `models` commands and fixtures see them.

use crate::registry::{Admin, Field, Kind, Model};

pub fn models() -> Vec<Model> {
    vec![
        Model {
            app: "sentiment",
            name: "dataset",
            verbose_name: "dataset",
            verbose_name_plural: "datasets",
            table: "sentiment_datasets",
            pk: &["id"],
            fields: vec![
                Field::new("id", "ID", Kind::Id).read_only(),
                Field::new(
                    "owner_id",
                    "Owner",
                    Kind::ForeignKey {
                        to: "accounts.user",
                    },
                ),
                Field::new(
                    "name",
                    "Name",
                    Kind::Text {
                        max: super::datasets::MAX_DATASET_NAME,
                    },
                ),
                Field::new("filename", "File name", Kind::Text { max: 255 }).read_only(),
                Field::new(
                    "row_count",
                    "Rows",
                    Kind::Integer {
                        min: 0,
                        max: i64::MAX,
                    },
                )
                .read_only(),
                Field::new(
                    "labeled_count",
                    "Labelled rows",
                    Kind::Integer {
                        min: 0,
                        max: i64::MAX,
                    },
                )
                .read_only(),
                Field::new(
                    "positive_count",
                    "Positive rows",
                    Kind::Integer {
                        min: 0,
                        max: i64::MAX,
                    },
                )
                .read_only(),
                Field::new(
                    "size_bytes",
                    "Size (bytes)",
                    Kind::Integer {
                        min: 0,
                        max: i64::MAX,
                    },
                )
                .read_only(),
                Field::new("created_at", "Uploaded", Kind::DateTime).read_only(),
            ],
            display: "name",
            ordering: &["-id"],
            // Datasets come from uploads, which check every row.
            admin: Some(Admin {
                list_display: &[
                    "name",
                    "owner_id",
                    "row_count",
                    "labeled_count",
                    "created_at",
                ],
                search: &["name", "filename"],
                filters: &["owner_id", "created_at"],
                no_add: true,
                ..Admin::default()
            }),
            clean: None,
        },
        Model {
            app: "sentiment",
            name: "row",
            verbose_name: "dataset row",
            verbose_name_plural: "dataset rows",
            table: "sentiment_rows",
            pk: &["dataset_id", "line"],
            fields: vec![
                Field::new(
                    "dataset_id",
                    "Dataset",
                    Kind::ForeignKey {
                        to: "sentiment.dataset",
                    },
                ),
                Field::new(
                    "line",
                    "Line",
                    Kind::Integer {
                        min: 1,
                        max: i64::from(i32::MAX),
                    },
                ),
                Field::new(
                    "text",
                    "Text",
                    Kind::LongText {
                        max: super::MAX_CHARS,
                    },
                ),
                Field::new(
                    "label",
                    "Label",
                    Kind::IntChoice(&[(0, "Negative"), (1, "Positive")]),
                )
                .optional(),
            ],
            display: "text",
            ordering: &["dataset_id", "line"],
            admin: None,
            clean: None,
        },
        Model {
            app: "sentiment",
            name: "model",
            verbose_name: "trained model",
            verbose_name_plural: "trained models",
            table: "sentiment_models",
            pk: &["id"],
            fields: vec![
                Field::new("id", "ID", Kind::Id).read_only(),
                Field::new(
                    "owner_id",
                    "Owner",
                    Kind::ForeignKey {
                        to: "accounts.user",
                    },
                ),
                Field::new(
                    "name",
                    "Name",
                    Kind::Text {
                        max: super::runs::MAX_MODEL_NAME,
                    },
                ),
                Field::new("kind", "Kind", Kind::Text { max: 16 }).read_only(),
                Field::new(
                    "dataset_id",
                    "Dataset",
                    Kind::ForeignKey {
                        to: "sentiment.dataset",
                    },
                )
                .optional()
                .read_only()
                .set_null_on_delete(),
                Field::new(
                    "job_id",
                    "Training job",
                    Kind::ForeignKey { to: "jobs.job" },
                )
                .optional()
                .read_only()
                .set_null_on_delete(),
                Field::new("weights", "Weights", Kind::Bytes).read_only(),
                Field::new("report", "Evaluation report", Kind::Json).read_only(),
                Field::new("created_at", "Trained", Kind::DateTime).read_only(),
            ],
            display: "name",
            ordering: &["-id"],
            // Models come from training jobs.
            admin: Some(Admin {
                list_display: &["name", "owner_id", "kind", "dataset_id", "created_at"],
                search: &["name"],
                filters: &["owner_id", "kind", "created_at"],
                no_add: true,
                no_change: true,
                ..Admin::default()
            }),
            clean: None,
        },
        Model {
            app: "sentiment",
            name: "result",
            verbose_name: "analysis result",
            verbose_name_plural: "analysis results",
            table: "sentiment_results",
            pk: &["job_id", "line"],
            fields: vec![
                Field::new("job_id", "Job", Kind::ForeignKey { to: "jobs.job" }),
                Field::new(
                    "line",
                    "Line",
                    Kind::Integer {
                        min: 1,
                        max: i64::from(i32::MAX),
                    },
                ),
                Field::new(
                    "label",
                    "Label",
                    Kind::IntChoice(&[(0, "Negative"), (1, "Positive")]),
                ),
                Field::new("positive", "Positive probability", Kind::Float),
            ],
            display: "line",
            ordering: &["job_id", "line"],
            admin: None,
            clean: None,
        },
    ]
}
