//! Redis unreachable or slow: blocks are kept and completed later, reads fall back to the
//! database, and no stale permit is served.

use std::time::{Duration, Instant};

use pmd_testkit::{FaultProxy, OwnRedis};

use crate::harness::{
    Cache, DENY, Db, PERMIT, eventually, hpr_target, key, org, patient, personnel, start,
};

fn addr_of(url: &str) -> std::net::SocketAddr {
    url.trim_start_matches("redis://")
        .parse()
        .expect("host:port")
}

#[tokio::test]
async fn with_redis_stopped_a_block_is_kept_unacknowledged_and_invalidated_once_redis_is_back()
-> anyhow::Result<()> {
    let mut redis = OwnRedis::start().await?;
    let url = redis.url();
    // The cache exactly as the flags configure it.
    let consent = start(
        Db::Postgres,
        Cache::Flags {
            redis_url: Some(url.clone()),
        },
    )
    .await?;
    let p = patient(401);
    let doctor = personnel("9144900", &org(90), None);
    assert_eq!(consent.check(&p, &doctor).await?.decision, PERMIT);

    redis.stop().await;
    let started = Instant::now();
    let status = consent.block(&p, hpr_target("9144900")).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert!(started.elapsed() < Duration::from_secs(5));
    // Committed, not acknowledged, and owed an invalidation.
    assert_eq!(consent.count("blocks").await?, 1);
    assert_eq!(consent.count("pending_invalidations").await?, 1);
    // Decisions come from the database meanwhile.
    assert_eq!(consent.check(&p, &doctor).await?.decision, DENY);

    redis.restart().await?;
    eventually(
        Duration::from_secs(20),
        "the background task invalidates",
        || async { (consent.count("pending_invalidations").await.ok()? == 0).then_some(()) },
    )
    .await?;
    assert_eq!(consent.check(&p, &doctor).await?.decision, DENY);
    // The citizen's retry finds the block and is acknowledged (and audited once).
    let block = consent.block(&p, hpr_target("9144900")).await?;
    assert_eq!(consent.count("blocks").await?, 1);
    assert_eq!(consent.check(&p, &doctor).await?.block_ids, vec![block.id]);
    eventually(
        Duration::from_secs(10),
        "the block event is delivered",
        || async { (consent.count("audit_outbox").await.ok()? == 0).then_some(()) },
    )
    .await?;
    consent.stop().await
}

#[tokio::test]
async fn with_redis_cut_off_from_consent_the_stale_permit_goes_once_the_invalidation_completes()
-> anyhow::Result<()> {
    // Redis keeps its data but consent cannot reach it; storage still can.
    let redis = OwnRedis::start().await?;
    let proxy = FaultProxy::start(addr_of(&redis.url())).await?;
    let consent_url = format!("redis://{}", proxy.addr());
    let consent = start(Db::Postgres, Cache::Redis { url: consent_url }).await?;
    let reader = consent.reader(&redis.url()).await;
    let p = patient(402);
    let doctor = personnel("9144900", &org(91), None);
    assert_eq!(consent.check(&p, &doctor).await?.decision, PERMIT);
    let cached = eventually(Duration::from_secs(2), "the reader connects", || async {
        reader.get(&p, &key(&doctor)).await.ok()
    })
    .await?;
    assert!(cached.is_some_and(|d| d.permit));

    proxy.down();
    let status = consent.block(&p, hpr_target("9144900")).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "not acknowledged");
    assert_eq!(consent.count("blocks").await?, 1);
    assert_eq!(consent.check(&p, &doctor).await?.decision, DENY);

    proxy.up();
    eventually(
        Duration::from_secs(20),
        "the background task invalidates",
        || async { (consent.count("pending_invalidations").await.ok()? == 0).then_some(()) },
    )
    .await?;
    assert_eq!(reader.get(&p, &key(&doctor)).await?, None);
    assert_eq!(consent.check(&p, &doctor).await?.decision, DENY);
    consent.stop().await
}

#[tokio::test]
async fn a_slow_redis_makes_reads_time_out_and_fall_back_without_a_stale_permit()
-> anyhow::Result<()> {
    let redis = OwnRedis::start().await?;
    let proxy = FaultProxy::start(addr_of(&redis.url())).await?;
    let url = format!("redis://{}", proxy.addr());
    let consent = start(Db::Postgres, Cache::Redis { url: url.clone() }).await?;
    let reader = consent.reader(&url).await;
    let p = patient(403);
    let doctor = personnel("9144900", &org(92), None);
    assert_eq!(consent.check(&p, &doctor).await?.decision, PERMIT);
    eventually(Duration::from_secs(2), "the permit is cached", || async {
        reader.get(&p, &key(&doctor)).await.ok().flatten()
    })
    .await?;

    // 200 ms per chunk each way: a round trip takes 400 ms, over the 250 ms read timeout.
    proxy.set_delay(Duration::from_millis(200));
    let block = consent.block(&p, hpr_target("9144900")).await;
    // Slow is not down: the invalidation (1 s timeout) gets through, or the block is
    // answered UNAVAILABLE and completed in the background. Either way, no permit is served.
    if let Err(status) = &block {
        assert_eq!(status.code(), tonic::Code::Unavailable);
    }
    for _ in 0..8 {
        let started = Instant::now();
        let read = reader.get(&p, &key(&doctor)).await;
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(400),
            "a cache read took {took:?}"
        );
        match read {
            Err(_) | Ok(None) => {}
            Ok(Some(decision)) => assert!(!decision.permit, "a stale permit was served"),
        }
    }
    // The fallback: consent decides from the database, in bounded time.
    let started = Instant::now();
    assert_eq!(consent.check(&p, &doctor).await?.decision, DENY);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    consent.stop().await
}
