//! Typed identifiers of stored objects.

id_type!(
    /// A dataset in the catalog.
    DatasetId, "dataset"
);
id_type!(
    /// An operating unit.
    UnitId, "unit"
);
id_type!(
    /// A real-name person.
    PersonId, "person"
);
id_type!(
    /// A credential (bearer token) of a person.
    CredentialId, "credential"
);
id_type!(
    /// An authorization (one scenario of one unit).
    AuthorizationId, "authorization"
);
id_type!(
    /// A job (one query).
    JobId, "job"
);
id_type!(
    /// A budget reservation in the ledger.
    ReservationId, "reservation"
);
id_type!(
    /// A data product (a job's result held in the domain).
    ProductId, "product"
);
id_type!(
    /// An export request of a product.
    ExportId, "export"
);
id_type!(
    /// A social-data import of a unit.
    ImportId, "import"
);
id_type!(
    /// A data-quality issue.
    IssueId, "issue"
);
id_type!(
    /// An annual announcement of the authorization workflow (Art. 9(1)).
    AnnouncementId, "announcement"
);
id_type!(
    /// An application to an announcement (Art. 9(2)).
    ApplicationId, "application"
);
id_type!(
    /// A unit's per-scenario data request (Art. 16, 17).
    DataRequestId, "request"
);
id_type!(
    /// An annual evaluation of a unit (Art. 11, 26).
    EvaluationId, "evaluation"
);
