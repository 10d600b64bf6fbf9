//! Contact details: kept only with explicit consent, in their own table, encrypted with the
//! configured key.

use serde_json::json;

use crate::helpers::{
    Backend, RED, Rows, TEST_CONTACT_KEY, assert_error, created, phq9_body, spawn_app,
};
use careline::contact::{Contact, ContactCipher};

const PHONE: &str = "13912345678";
const NAME: &str = "王小明";

async fn a_contact_without_consent_is_refused_and_nothing_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    for consent in [json!(false), serde_json::Value::Null] {
        let mut request = phq9_body(RED);
        request["contact"] = json!({"name": NAME, "phone": PHONE});
        if !consent.is_null() {
            request["consent_to_contact"] = consent;
        }
        let body = assert_error(app.post_screening(&request).await, 422, "invalid_request").await;
        assert_eq!(
            body["error"]["details"][0]["field"], "consent_to_contact",
            "{body}"
        );
        let text = body.to_string();
        assert!(
            !text.contains(PHONE),
            "the error does not echo the phone: {text}"
        );
    }
    assert_eq!(
        app.rows().await,
        Rows {
            screenings: 0,
            contacts: 0,
            versions: 0
        }
    );
}

async fn a_consented_contact_is_stored_encrypted(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut request = phq9_body(RED);
    request["contact"] = json!({"name": format!(" {NAME} "), "phone": PHONE});
    request["consent_to_contact"] = json!(true);
    let body = created(app.post_screening(&request).await).await;
    let id = body["id"].as_str().expect("id").to_string();
    assert!(
        !body.to_string().contains(PHONE),
        "the response does not echo the phone"
    );
    assert_eq!(
        app.rows().await,
        Rows {
            screenings: 1,
            contacts: 1,
            versions: 0
        }
    );
    let lookup = id.clone();
    let (nonce, ciphertext) = app
        .with_conn(move |c| careline::db::screenings::find_contact(c, &lookup))
        .await
        .expect("read the contact")
        .expect("a contact row");
    for secret in [PHONE.as_bytes(), "12345678".as_bytes(), NAME.as_bytes()] {
        assert!(
            !ciphertext.windows(secret.len()).any(|w| w == secret),
            "the stored bytes do not contain the contact in clear"
        );
    }
    // The configured key (not the shipped development key) decrypts it, bound to the screening.
    let cipher = ContactCipher::from_base64(TEST_CONTACT_KEY).expect("the test key");
    assert_eq!(
        cipher.decrypt(&nonce, &ciphertext, &id),
        Some(Contact {
            name: Some(NAME.into()),
            phone: PHONE.into()
        })
    );
    assert_eq!(
        cipher.decrypt(&nonce, &ciphertext, "another-screening"),
        None
    );
    let development = ContactCipher::from_base64(careline::config::DEVELOPMENT_CONTACT_KEY)
        .expect("the development key");
    assert_eq!(development.decrypt(&nonce, &ciphertext, &id), None);
    // Nothing of the contact is in the screening row.
    let row = app.find_screening(&id).await;
    for column in [&row.answers, &row.scores, &row.reasons] {
        assert!(!column.contains(PHONE) && !column.contains(NAME));
    }
    assert!(
        row.response
            .as_deref()
            .is_some_and(|r| !r.contains(PHONE) && !r.contains(NAME)),
        "the stored response has no contact"
    );
}

async fn consent_without_a_contact_stores_no_contact(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut request = phq9_body(RED);
    request["consent_to_contact"] = json!(true);
    created(app.post_screening(&request).await).await;
    assert_eq!(
        app.rows().await,
        Rows {
            screenings: 1,
            contacts: 0,
            versions: 0
        }
    );
}

async fn a_bad_contact_with_consent_stores_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        (json!({"phone": "12"}), "contact.phone"),
        (json!({"phone": "call me maybe"}), "contact.phone"),
        (
            json!({"phone": PHONE, "name": "x".repeat(51)}),
            "contact.name",
        ),
    ];
    for (contact, field) in cases {
        let mut request = phq9_body(RED);
        request["contact"] = contact;
        request["consent_to_contact"] = json!(true);
        let body = assert_error(app.post_screening(&request).await, 422, "invalid_request").await;
        assert_eq!(body["error"]["details"][0]["field"], field, "{body}");
    }
    // An unknown field in the contact is not a screening body: 400.
    let mut request = phq9_body(RED);
    request["contact"] = json!({"phone": PHONE, "email": "a@b.c"});
    request["consent_to_contact"] = json!(true);
    assert_error(app.post_screening(&request).await, 400, "bad_request").await;
    assert_eq!(
        app.rows().await,
        Rows {
            screenings: 0,
            contacts: 0,
            versions: 0
        }
    );
}

async fn contacts_are_deleted_after_their_retention_period(backend: Backend) {
    use careline::db::screenings::delete_expired_contacts;
    let app = spawn_app(backend).await;
    let retention = app.state.settings.privacy.contact_retention;
    assert_eq!(retention, std::time::Duration::from_secs(90 * 86_400));
    let mut request = phq9_body(RED);
    request["contact"] = json!({"phone": PHONE});
    request["consent_to_contact"] = json!(true);
    created(app.post_screening(&request).await).await;
    let retention = chrono::Duration::from_std(retention).expect("a duration");
    let now = chrono::Utc::now().naive_utc();
    let deleted = app
        .with_conn(move |c| {
            (
                delete_expired_contacts(c, now + retention - chrono::Duration::hours(1))
                    .expect("purge"),
                delete_expired_contacts(c, now + retention + chrono::Duration::hours(1))
                    .expect("purge"),
            )
        })
        .await;
    assert_eq!(
        deleted,
        (0, 1),
        "kept until the retention date, deleted after"
    );
    assert_eq!(
        app.rows().await,
        Rows {
            screenings: 1,
            contacts: 0,
            versions: 0
        },
        "the screening itself stays"
    );
}

/// The use case behind the result page's "contact me" form: contact details added after the
/// result, proven by the token the submission gave the rider's browser.
async fn a_contact_added_after_the_result_needs_the_token_and_consent(backend: Backend) {
    use careline::screening::{ContactError, SubmitRequest, add_contact, sha256_hex, submit};
    let app = spawn_app(backend).await;
    let state = app.state.clone();
    let outcome = app
        .with_conn(move |c| {
            let catalog = state.catalog.get();
            let request: SubmitRequest =
                serde_json::from_value(phq9_body(RED)).expect("a screening");
            let submitted = submit(
                c,
                state.context(&catalog),
                &request,
                None,
                &sha256_hex(b"body"),
            )
            .expect("submitted");
            let id = submitted.response.id.clone();
            let token = submitted
                .contact_token
                .expect("a token for the rider's browser");
            let contact = Contact {
                name: None,
                phone: format!(" {PHONE} "),
            };
            let ctx = state.context(&catalog);
            let wrong_token = add_contact(c, ctx, &id, "not-the-token", &contact, true);
            let wrong_id = add_contact(c, ctx, "no-such-screening", &token, &contact, true);
            let no_consent = add_contact(c, ctx, &id, &token, &contact, false);
            let bad_phone = add_contact(
                c,
                ctx,
                &id,
                &token,
                &Contact {
                    name: None,
                    phone: "12".into(),
                },
                true,
            );
            let before = careline::db::screenings::count_contacts(c).expect("count");
            let first = add_contact(c, ctx, &id, &token, &contact, true);
            let second = add_contact(c, ctx, &id, &token, &contact, true);
            let sealed = careline::db::screenings::find_contact(c, &id)
                .expect("read")
                .expect("stored");
            (
                id,
                [wrong_token, wrong_id, no_consent, bad_phone, first, second],
                before,
                sealed,
            )
        })
        .await;
    let (id, results, before, (nonce, ciphertext)) = outcome;
    let [wrong_token, wrong_id, no_consent, bad_phone, first, second] = results;
    assert!(
        matches!(wrong_token, Err(ContactError::NotFound)),
        "{wrong_token:?}"
    );
    assert!(
        matches!(wrong_id, Err(ContactError::NotFound)),
        "{wrong_id:?}"
    );
    assert!(
        matches!(no_consent, Err(ContactError::NoConsent)),
        "{no_consent:?}"
    );
    assert!(
        matches!(bad_phone, Err(ContactError::Invalid("phone", _))),
        "{bad_phone:?}"
    );
    assert_eq!(before, 0, "nothing stored by the refused attempts");
    assert!(first.is_ok(), "{first:?}");
    assert!(
        matches!(second, Err(ContactError::AlreadyGiven)),
        "{second:?}"
    );
    let cipher = ContactCipher::from_base64(TEST_CONTACT_KEY).expect("the test key");
    assert_eq!(
        cipher.decrypt(&nonce, &ciphertext, &id),
        Some(Contact {
            name: None,
            phone: PHONE.into()
        })
    );
    assert_eq!(app.rows().await.contacts, 1);
}

backend_tests!(
    a_contact_added_after_the_result_needs_the_token_and_consent,
    contacts_are_deleted_after_their_retention_period,
    a_contact_without_consent_is_refused_and_nothing_stored,
    a_consented_contact_is_stored_encrypted,
    consent_without_a_contact_stores_no_contact,
    a_bad_contact_with_consent_stores_nothing,
);
