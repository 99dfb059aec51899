use std::path::PathBuf;

use proptest::prelude::*;

use super::*;

#[track_caller]
fn case(input: &str, tag: Option<&str>, location: Location, written: &str) {
    let repo = Repository::parse(input).unwrap_or_else(|err| panic!("{input}: {err}"));
    assert_eq!(repo.tag(), tag, "{input}");
    assert_eq!(repo.location(), &location, "{input}");
    assert_eq!(repo.location_str(), written, "{input}");
}

#[track_caller]
fn invalid(input: &str, reason_part: &str) {
    match Repository::parse(input) {
        Err(Error::InvalidRepository { input: i, reason }) => {
            assert_eq!(i, input);
            assert!(reason.contains(reason_part), "{input}: {reason}");
        }
        other => panic!("{input}: expected an invalid repository, got {other:?}"),
    }
}

#[test]
fn repositories_parse_as_in_etc_apk_repositories() {
    let http = |s: &str| Location::Http(s.to_owned());
    case(
        "https://dl-cdn.alpinelinux.org/alpine/v3.19/main",
        None,
        http("https://dl-cdn.alpinelinux.org/alpine/v3.19/main"),
        "https://dl-cdn.alpinelinux.org/alpine/v3.19/main",
    );
    case(
        "@edge https://dl-cdn.alpinelinux.org/alpine/edge/main/",
        Some("edge"),
        http("https://dl-cdn.alpinelinux.org/alpine/edge/main"),
        "https://dl-cdn.alpinelinux.org/alpine/edge/main",
    );
    case(
        "  @testing\thttp://mirror.example:8080/alpine/edge/testing  ",
        Some("testing"),
        http("http://mirror.example:8080/alpine/edge/testing"),
        "http://mirror.example:8080/alpine/edge/testing",
    );
    case(
        "HTTPS://Mirror.Example/alpine",
        None,
        http("https://Mirror.Example/alpine"),
        "https://Mirror.Example/alpine",
    );
    case(
        "file:///srv/alpine/main",
        None,
        Location::Local(PathBuf::from("/srv/alpine/main")),
        "file:///srv/alpine/main",
    );
    case(
        "@local file://localhost/srv/my%20repo",
        Some("local"),
        Location::Local(PathBuf::from("/srv/my repo")),
        "file://localhost/srv/my%20repo",
    );
    case(
        "/srv/alpine/main",
        None,
        Location::Local(PathBuf::from("/srv/alpine/main")),
        "/srv/alpine/main",
    );
    case(
        "@v3.19-boot ../shared/data/alpine/repos/v3.19-boot",
        Some("v3.19-boot"),
        Location::Local(PathBuf::from("../shared/data/alpine/repos/v3.19-boot")),
        "../shared/data/alpine/repos/v3.19-boot",
    );
}

#[test]
fn malformed_repositories_are_refused_with_the_reason() {
    invalid("", "empty");
    invalid("   ", "empty");
    invalid("@edge", "followed by a space");
    invalid("@ https://x.example/a", "a tag is");
    invalid("@ed/ge https://x.example/a", "a tag is");
    invalid("ftp://mirror.example/alpine", "unsupported scheme `ftp://`");
    invalid("https://", "no host");
    invalid("https:///alpine", "no host");
    invalid("https://mirror.example/al pine", "spaces");
    invalid("https://mirror.example/alpine?x=1", "query");
    invalid("https://user:pw@mirror.example/alpine", "credentials");
    invalid("file://relative/path", "absolute path");
    invalid("file:///srv/%zz", "percent escape");
}

#[test]
fn display_gives_back_the_line() {
    for line in [
        "@edge https://dl-cdn.alpinelinux.org/alpine/edge/main",
        "/srv/alpine/main",
        "@x file:///srv/a",
    ] {
        let repo = Repository::parse(line).unwrap();
        assert_eq!(repo.to_string(), line);
        assert_eq!(Repository::parse(&repo.to_string()).unwrap(), repo);
    }
}

#[test]
fn repositories_files_skip_comments_and_blank_lines() {
    let list = Repository::parse_list(
        "# mirrors\n\nhttps://a.example/alpine/v3.19/main\n  @edge /srv/edge\n#/srv/off\n",
    )
    .unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[1].tag(), Some("edge"));
    assert!(list[0].is_remote());
    assert!(!list[1].is_remote());
}

#[test]
fn resources_follow_alpines_layout() {
    let remote = Repository::parse("https://m.example/alpine/v3.19/main/").unwrap();
    assert_eq!(
        remote.index_resource("x86_64").unwrap(),
        Resource::Url("https://m.example/alpine/v3.19/main/x86_64/APKINDEX.tar.gz".to_owned())
    );
    assert_eq!(
        remote
            .package_resource("aarch64", "libstdc++", "12.2.1_git20220924-r10")
            .unwrap(),
        Resource::Url(
            "https://m.example/alpine/v3.19/main/aarch64/libstdc++-12.2.1_git20220924-r10.apk"
                .to_owned()
        )
    );
    let local = Repository::parse("/srv/repo").unwrap();
    assert_eq!(
        local
            .package_resource("x86_64", "musl", "1.2.4_git20230717-r4")
            .unwrap(),
        Resource::File(PathBuf::from(
            "/srv/repo/x86_64/musl-1.2.4_git20230717-r4.apk"
        ))
    );
}

#[test]
fn path_traversal_in_names_versions_and_arches_is_refused() {
    let repo = Repository::parse("/srv/repo").unwrap();
    for (name, version) in [
        ("../../etc/passwd", "1.0-r0"),
        ("musl", "1.0/../../../x"),
        ("..", "1.0-r0"),
        ("musl", ".."),
        ("a\\b", "1"),
        ("", "1"),
        ("musl", ""),
        ("-rf", "1"),
        ("musl", "1.0\0"),
        ("mu sl", "1"),
    ] {
        assert!(
            matches!(
                repo.package_resource("x86_64", name, version),
                Err(Error::UnsafePackageName { .. })
            ),
            "{name:?} {version:?}"
        );
    }
    for arch in ["", "..", "x86_64/../..", "x86 64", "aarch64/"] {
        assert!(
            matches!(repo.index_resource(arch), Err(Error::InvalidArch { .. })),
            "{arch:?}"
        );
    }
}

#[test]
fn the_cache_directory_follows_xdg() {
    let p = PathBuf::from;
    assert_eq!(
        default_cache_dir_from(Some(p("/xdg")), Some(p("/home/u"))).unwrap(),
        p("/xdg/basalt")
    );
    assert_eq!(
        default_cache_dir_from(Some(p("relative")), Some(p("/home/u"))).unwrap(),
        p("/home/u/.cache/basalt")
    );
    assert_eq!(
        default_cache_dir_from(None, Some(p("/home/u"))).unwrap(),
        p("/home/u/.cache/basalt")
    );
    assert!(matches!(
        default_cache_dir_from(None, None),
        Err(Error::NoCacheDir)
    ));
}

#[test]
fn errors_name_their_subject_and_offer_hints() {
    let err = Error::Http {
        url: "https://m.example/x86_64/APKINDEX.tar.gz".to_owned(),
        attempts: 1,
        failure: HttpFailure::Status {
            code: 404,
            reason: "Not Found".to_owned(),
        },
    };
    assert_eq!(
        err.to_string(),
        "failed to fetch `https://m.example/x86_64/APKINDEX.tar.gz` (1 attempt): \
         server answered 404 Not Found"
    );
    assert!(err.hint().unwrap().contains("architecture"));
    let err = Error::Http {
        url: "http://m.example/a.apk".to_owned(),
        attempts: 4,
        failure: HttpFailure::Truncated {
            expected: 100,
            received: 10,
        },
    };
    assert_eq!(
        err.to_string(),
        "failed to fetch `http://m.example/a.apk` (4 attempts): body truncated: \
         received 10 of 100 bytes announced by Content-Length"
    );
}

proptest! {
    #[test]
    fn parsing_never_panics_and_round_trips(input in "\\PC{0,80}") {
        if let Ok(repo) = Repository::parse(&input) {
            let again = Repository::parse(&repo.to_string()).unwrap();
            prop_assert_eq!(again, repo);
        }
    }

    #[test]
    fn parsed_tagged_urls_keep_tag_and_url(
        tag in "[a-z0-9][a-z0-9._-]{0,10}",
        host in "[a-z][a-z0-9-]{0,12}(\\.[a-z]{2,5})?",
        path in "(/[a-z0-9._-]{1,8}){0,4}",
    ) {
        let url = format!("https://{host}{path}");
        let repo = Repository::parse(&format!("@{tag} {url}/")).unwrap();
        prop_assert_eq!(repo.tag(), Some(tag.as_str()));
        prop_assert_eq!(repo.location(), &Location::Http(url));
    }

    #[test]
    fn package_resources_never_leave_the_repository(
        name in "\\PC{0,20}",
        version in "\\PC{0,20}",
    ) {
        let repo = Repository::parse("/srv/repo").unwrap();
        if let Ok(Resource::File(path)) = repo.package_resource("x86_64", &name, &version) {
            prop_assert_eq!(path.parent(), Some(std::path::Path::new("/srv/repo/x86_64")));
            let file = path.file_name().unwrap().to_str().unwrap();
            prop_assert!(!file.starts_with('.'));
            prop_assert_eq!(path.components().count(), 5);
        }
    }
}
