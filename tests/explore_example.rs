//! The README's example of exploring a program's schedules from a test
//! (the README's second rust block is this file's text).

use skein::Explore;

#[test]
fn my_program_ends_the_same_way_under_every_schedule() {
    let src = r#"
        var c = chan(1);
        fun worker() { c <- "done"; }
        go worker();
        print <-c;
    "#;
    let found = Explore::new(src)
        .seeds(200)
        .procs(2)
        .run()
        .expect("compiles");
    assert!(found.is_uniform(), "{}", found.table("my_program.sk"));
    assert_eq!(found.runs, 200);
}
