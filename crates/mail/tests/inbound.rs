//! Parsing tables over real-world message shapes (the files in
//! `tests/mail/`): nested multipart with inline images, HTML-only mail,
//! non-UTF-8 charsets, RFC 2047 headers, winmail.dat, missing headers,
//! auto-replies, list mail and bounces.

use switchyard_mail::inbound::{Limits, Noise, ParseError, number_in_subject, parse, reply_text};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/mail/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// What each fixture must parse to: (file, from, subject, a piece of the
/// text, attachments as (name, sniffed type, inline)).
#[test]
fn real_world_shapes_parse_to_sender_subject_text_and_attachments() {
    type Row = (&'static str, Option<&'static str>, &'static str, &'static str, &'static [(&'static str, &'static str, bool)]);
    let table: &[Row] = &[
        (
            "nested-inline-image.eml",
            Some("rita@example.org"),
            "Printer shows an error",
            "shows this error (screenshot below) \u{2013} nothing prints.",
            &[("screenshot.png", "image/png", true), ("error-log.pdf", "application/pdf", false)],
        ),
        ("html-only.eml", Some("hans@example.org"), "VPN drops every hour", "the VPN drops every hour & I have to log in again.", &[]),
        ("iso-8859-1-qp.eml", Some("jose@example.org"), "Café machine à l'accueil", "La machine à café ne marche plus. Grüße", &[]),
        (
            "windows-1252-8bit.eml",
            Some("sam@example.org"),
            "\u{201c}Quotes\u{201d} and €",
            "\u{201c}Smart quotes\u{201d} cost €5 \u{2013}",
            &[],
        ),
        ("utf8-base64-subject.eml", Some("zoe@example.org"), "Écran noir – 💻 ne démarre pas", "Mon écran reste noir.", &[]),
        (
            "winmail-dat.eml",
            Some("olivia@example.org"),
            "Outlook sent this",
            "See the attachment.",
            &[("winmail.dat", "application/ms-tnef", false)],
        ),
        ("missing-headers.eml", Some("bare@example.org"), "", "Just a body, no subject", &[]),
        ("no-from.eml", None, "Who sent me?", "Nobody knows.", &[]),
    ];
    for (file, from, subject, text, attachments) in table {
        let mail = parse(&fixture(file), &Limits::default()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(mail.from.as_ref().map(|f| f.address.as_str()), *from, "{file}: from");
        assert_eq!(mail.subject, *subject, "{file}: subject");
        assert!(mail.text.contains(text), "{file}: text {:?} has {text:?}", mail.text);
        let got: Vec<(&str, &str, bool)> =
            mail.attachments.iter().map(|a| (a.filename.as_str(), a.content_type.as_str(), a.inline)).collect();
        assert_eq!(got, *attachments, "{file}: attachments");
        assert!(mail.noise.is_none() && mail.bounce.is_none(), "{file}: a person's mail");
    }
    let html = parse(&fixture("html-only.eml"), &Limits::default()).unwrap();
    assert!(!html.text.contains('<') && !html.text.contains("color: red"), "no markup or style in {:?}", html.text);
    let latin = parse(&fixture("iso-8859-1-qp.eml"), &Limits::default()).unwrap();
    assert_eq!(latin.from.unwrap().name.as_deref(), Some("José García"));
    let bare = parse(&fixture("missing-headers.eml"), &Limits::default()).unwrap();
    assert_eq!((bare.message_id, bare.thread_ids.len()), (None, 0));
}

#[test]
fn auto_replies_and_bulk_mail_are_noise_with_the_header_that_said_so() {
    let table: &[(&str, Noise)] = &[
        ("out-of-office.eml", Noise::AutoReply("Auto-Submitted: auto-replied".into())),
        ("exchange-autoreply.eml", Noise::AutoReply("X-Auto-Response-Suppress: All".into())),
        ("mailing-list.eml", Noise::Bulk("Precedence: list".into())),
        ("bulk.eml", Noise::Bulk("Precedence: bulk".into())),
    ];
    for (file, noise) in table {
        let mail = parse(&fixture(file), &Limits::default()).unwrap();
        assert_eq!(mail.noise.as_ref(), Some(noise), "{file}");
    }
}

#[test]
fn a_dsn_names_the_message_it_returns_and_why() {
    let mail = parse(&fixture("postfix-bounce.eml"), &Limits::default()).unwrap();
    assert!(mail.noise.is_none(), "a bounce is a bounce, not an auto-reply");
    let bounce = mail.bounce.expect("a bounce");
    assert_eq!(bounce.original_message_id.as_deref(), Some("<n42.example.org@switchyard>"));
    assert_eq!(bounce.recipient.as_deref(), Some("gone@example.org"));
    assert_eq!(bounce.status.as_deref(), Some("5.1.1"));
    assert!(bounce.is_permanent());
    assert!(bounce.diagnostic.unwrap().contains("User unknown in local recipient table"));
}

#[test]
fn replies_carry_their_thread_ids_nearest_first_and_lose_quotes_and_signatures() {
    let gmail = parse(&fixture("gmail-reply.eml"), &Limits::default()).unwrap();
    assert_eq!(gmail.thread_ids, ["<n12.example.org@switchyard>", "<INC-000007.example.org@switchyard>"]);
    assert_eq!(reply_text(&gmail.text), "It works again after the restart, thanks!\n\nRita");
    let outlook = parse(&fixture("outlook-reply.eml"), &Limits::default()).unwrap();
    assert_eq!(reply_text(&outlook.text), "Still broken on my side.");
    let table = [
        ("Thanks!\n\nOn Mon, 1 Dec 2026, Desk <d@x.org>\nwrote:\n> old", "Thanks!"),
        ("ok\n-----Original Message-----\nFrom: x", "ok"),
        ("Danke\n\nAm 03.12.2026 um 09:12 schrieb Desk <d@x.org>:\n> alt", "Danke"),
        ("fine\n\nSent from my iPhone", "fine"),
        ("> only a quote", "> only a quote"),
        ("no quote at all\nsecond line", "no quote at all\nsecond line"),
    ];
    for (text, want) in table {
        assert_eq!(reply_text(text), want, "{text:?}");
    }
}

#[test]
fn ticket_numbers_are_found_in_subjects_only_with_a_known_prefix() {
    let table = [
        ("Re: [INC-000123] Printer", Some("INC-000123")),
        ("AW: inc-42 still broken", Some("INC-42")),
        ("RE: FWD: [INC-000007]", Some("INC-000007")),
        ("PINC-000123", None),
        ("INC- 12", None),
        ("Printer broken", None),
    ];
    for (subject, want) in table {
        assert_eq!(number_in_subject(subject, &["INC"]).as_deref(), want, "{subject}");
    }
}

#[test]
fn limits_hold_for_the_message_its_attachments_and_its_text() {
    let raw = fixture("nested-inline-image.eml");
    let small = Limits { max_message_bytes: 100, ..Limits::default() };
    assert_eq!(parse(&raw, &small), Err(ParseError::TooLarge { size: raw.len(), limit: 100 }));
    let tight = Limits { max_attachment_bytes: 60, max_text_chars: 20, ..Limits::default() };
    let mail = parse(&raw, &tight).unwrap();
    let kept: Vec<&str> = mail.attachments.iter().map(|a| a.filename.as_str()).collect();
    assert_eq!(kept, ["error-log.pdf"], "the 45-byte PDF fits, the 69-byte PNG does not");
    assert!(mail.skipped_attachments[0].starts_with("screenshot.png (69 bytes) is over the limit"), "{:?}", mail.skipped_attachments);
    assert!(mail.text.ends_with("[... the rest of the message was cut at the size limit]"));
    assert_eq!(parse(b"", &Limits::default()), Err(ParseError::Unreadable));
}
