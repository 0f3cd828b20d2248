//! The risk-language rules, one table per category, read against one normalised sentence.
//!
//! Each rule is linguistically motivated rather than copied from a corpus: direct statements
//! ("thinking about killing myself"), indirect ones a clinician would still screen
//! ("everyone would be better off", "I'm not going to be around to deal with it"), euphemisms
//! ("the thing with my arm", "went out went out"), third-person reports from family, and the
//! clinician's own assessment in a dictation. Idioms are excluded by each rule's `unless`
//! ("kill myself at work", "my back is killing me"), hyperbole needs more than the verb
//! ("I'm going to kill him if he forgets the permission slip" has no means, no imagery, no
//! wish), and denials are read by the shared negation check.

use super::RiskCategory;
use regex::Regex;
use std::sync::LazyLock;

/// Whose risk a rule describes, so repeated mentions group by the person at risk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Person {
    /// The speaker's own risk ("I drank").
    Speaker,
    /// Someone else's ("he came home drunk", "her son").
    Other,
}

/// Session-level context a rule needs before it may fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    None,
    /// Someone in the session is in recovery: "relapse" needs something to relapse from.
    Recovery,
    /// An older adult is discussed (age 70+, dementia, assisted living, grandparent).
    Elder,
    /// A child is discussed.
    Child,
    /// Only as a detail of a disclosure of the same category made a few cues before
    /// ("there were marks" after "I hit him with the belt").
    Follows,
}

pub(crate) struct Rule {
    pub category: RiskCategory,
    /// A short severity feature this rule establishes ("passive", "plan", "lapse").
    pub tag: &'static str,
    pub re: Regex,
    /// A match of this in the sentence cancels the rule (idioms, ordinary meanings).
    pub unless: Option<Regex>,
    /// This must also occur somewhere in the cue (the subject, the account, the implement).
    pub cue_also: Option<Regex>,
    pub gate: Gate,
    pub person: Person,
    /// Whether a negator just before the match turns it into a denial.
    pub negatable: bool,
}

struct Spec(
    RiskCategory,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Gate,
    Person,
    bool,
);

use Gate::{Child, Elder, Follows, Recovery};
use Person::{Other, Speaker};
use RiskCategory::{
    ChildAbuse, ElderAbuse, HomicidalIdeation, SelfHarm, SubstanceRelapse, SuicidalIdeation,
};

const G0: Gate = Gate::None;

/// Third-person words that make a sentence about someone other than the speaker.
const THIRD: &str =
    r"\b(she|he|her|him|mom|dad|mother|father|grandma|grandpa|grandmother|grandfather)\b";
macro_rules! child_object {
    () => {
        r"(my|her|his|their|the|our) (son|daughter|kids?|child|children|boy|girl|baby|stepson|stepdaughter)"
    };
}

#[rustfmt::skip]
fn specs() -> Vec<Spec> {
    vec![
        // Suicidal ideation. Columbia Suicide Severity Rating Scale (C-SSRS) ladder: wish to be
        // dead (passive), active thoughts, method, intent, plan, preparatory behaviour.
        Spec(SuicidalIdeation, "active", r"\b(kill|killing|end|ending|take|taking) (myself|my (own )?life)\b",
            Some(r"\bkill(ing)? myself (at|for|over|to|laughing|trying|working|with work)\b"), None, G0, Speaker, true),
        Spec(SuicidalIdeation, "active", r"\b(thinking|thought|thoughts|think) (about|of) (suicide|ending it|ending things|ending it all)\b|\bend it all\b|\bi('m| am| feel| have been| was) suicidal\b",
            None, None, G0, Speaker, true),
        Spec(SuicidalIdeation, "wish to die", r"\bi (just )?(want|wanted|wish) (to die|i (was|were) dead|i could die|i (wasn't|weren't) (alive|here|around))\b|\bi('d| would) (rather|be better off) (be )?dead\b|\bbetter off dead\b",
            None, None, G0, Speaker, true),
        Spec(SuicidalIdeation, "passive (burden)", r"\b(everyone|everybody|they|people|my (family|kids|wife|husband|son|daughter))('d|'ll| would| will) (all )?be better off( without me| if i (wasn't|weren't|was not|were not) (here|around|alive)| if i (was|were) (gone|dead))?(\s*[.,;!\x{2014}-]|\s*$)|\bbetter off without me\b",
            Some(r"better off (with|if (we|they|you))\b"), None, G0, Speaker, true),
        Spec(SuicidalIdeation, "passive (wish not to wake up)", r"\b(don't|do not|didn't) want to (wake up|be alive|live|be here|exist|go on)( anymore)?\b|\b(go to sleep|went to sleep|fall asleep) and (never|not|just not|just didn't|didn't) wake up\b|\bif i (just )?(didn't|never|don't) wake up\b",
            Some(r"wake up (early|at|so|for|before|in|tomorrow|that)|live (here|there|with|in|like)|be here (at|by|for|on|early|tomorrow)"), None, G0, Speaker, false),
        Spec(SuicidalIdeation, "intent (indirect)", r"\b(i'm|i am|i'll|i will) not (going to |gonna )?be (around|here) (to|for|much longer|anymore)\b|\bi won't be (around|here) (to|for|much longer|anymore)\b",
            None, None, G0, Speaker, false),
        Spec(SuicidalIdeation, "passive (thoughts of dying in an accident)", r"\bif i (got|get|was|were) (in|into|hit by) (a )?(car )?(accident|crash|wreck|car|truck|bus)\b|\b(wouldn't|didn't) mind if i (died|got hit|crashed|didn't make it)\b",
            None, None, G0, Speaker, true),
        Spec(SuicidalIdeation, "plan with stockpiled means", r"\b(saving|saved|stockpil\w*|hoard\w*|collecting|stashing|stashed) (up )?(my |the |some |all )?(sleeping )?(pills|meds|medications?|tablets)\b",
            None, None, G0, Speaker, true),
        Spec(SuicidalIdeation, "plan", r"\b(i've|i have) (a|the) plan\b.*\b(die|kill|end|pills|gun|overdose)\b|\b(wrote|written|writing) (a|my) (suicide )?note (to|for)\b|\bthe last time i('ll| will|'m going to| am going to) (talk to|see|speak to|hear|have to)\b",
            None, None, G0, Speaker, true),
        Spec(SuicidalIdeation, "passive", r"\bwhat's the point (of|in) (living|going on|being alive|being here|waking up)\b|\bno (point|reason) (in|to) (living|going on|being alive|be alive|live)\b|\bi (just )?(wish|want|wanted) (to |i could )?(just )?(disappear|not exist|stop existing|be gone)( forever)?\b|\bwish i (had never been born|was never born|wasn't born)\b|\b(easier|better) (for everyone )?if i (wasn't|weren't|was not|were not) (here|around|alive)\b|\b(thinking|thought|thoughts|think) (about|of) (dying|being dead|not being (here|alive|around))\b",
            Some(r"disappear(ed)? (under|into|from|for (a|the) (day|week|weekend))|dying (of|from|in a)\b|heart attack|panic"), None, G0, Speaker, true),
        Spec(SuicidalIdeation, "active with method", r"\b(hang|hanging|shoot|shooting|drown|drowning|poison|poisoning) myself\b|\b(thought|thinking|think|thoughts) (about|of) (taking|swallowing) (all )?(of )?(my |the |those )?(pills|bottle|meds)\b|\b(thought|thinking|think|want|wanted|going|planning|plan) (about |to )?(jump|jumping) (off|from|in front of)\b|\bi looked up (how|ways) to (die|kill|overdose)\b|\b(thought|thinking|think|wanted|want|urge) (about |to )?(just )?(drive|driving|swerve|swerving|steer|steering) (off|into)\b|\bhow many (pills|of them) (it would|would it) take\b",
            Some(r"\b(gym|lifting|playing|running|fell|slipped|accident|work)\b"), None, G0, Speaker, true),
        Spec(SuicidalIdeation, "suicidal ideation (reported)", r"\b(passive |active )?suicidal (ideation|thoughts|thinking)\b|\b(endorses|endorsed|reports|reported|disclosed) (passive |active )?(si|thoughts of (suicide|death|dying))\b",
            None, None, G0, Other, true),
        Spec(HomicidalIdeation, "homicidal ideation (reported)", r"\bhomicidal (ideation|thoughts|thinking)\b|\b(endorses|endorsed|reports|reported|disclosed) hi\b",
            None, None, G0, Other, true),
        // Homicidal ideation: a target, imagery, a wish, means. Bare "I'm going to kill him" is
        // the commonest hyperbole in English, so it needs a weapon in the same turn.
        Spec(HomicidalIdeation, "threat toward an identified person", r"\bput (him|her|them|that \w+) in the ground\b|\b(i'll|i will|i'm going to|i'm gonna|i want to|i wanna|i could|i'd like to) (shoot|stab|strangle|murder) (him|her|them|that \w+)\b",
            None, None, G0, Speaker, true),
        Spec(HomicidalIdeation, "violent thoughts about another person", r"\b(thoughts?|thinking|thought|fantasi\w+|dreams?|dreaming|picture|picturing|imagine|imagining) (of |about )?(killing|hurting|shooting|stabbing|murdering|strangling) (him|her|them|my \w+|that \w+)\b",
            None, None, G0, Speaker, true),
        Spec(HomicidalIdeation, "wish to harm another person", r"\bi (want|wanted|really want) to (hurt|shoot|stab|strangle|choke) (him|her|them|that \w+)\b|\b(thought|thinking|think) about (running (him|her|them) over|(shooting|stabbing|strangling) (him|her|them))\b",
            None, None, G0, Speaker, true),
        Spec(HomicidalIdeation, "wish for another's death", r"\bwant(ed)? (him|her|them) dead\b|\bwish (he|she|they) (was|were) dead\b",
            None, None, G0, Speaker, true),
        Spec(HomicidalIdeation, "threat with means", r"\b(kill|killing|murder|shoot) (him|her|them)\b",
            None, Some(r"\b(gun|pistol|rifle|shotgun|knife|weapon|firearm)\b|get away with it|\bi mean it\b|not (joking|kidding)|\bi'm serious\b|where (he|she) lives"), G0, Speaker, true),
        // Self-harm (non-suicidal self-injury): method and recency.
        Spec(SelfHarm, "self-injury", r"\b(cut|cutting|cuts|burn|burned|burnt|burning|scratch|scratched|scratching|carve|carved|carving) (myself|my (arms?|wrists?|legs?|thighs?|skin|stomach|hips?))\b|\bused (the|a|my) (lighter|blade|razor|knife|scissors) on (my|myself)\b",
            Some(r"\b(shaving|cooking|stove|oven|pan|iron|accident|accidentally|chopping|slipped|sunburn|hair)\b"), None, G0, Speaker, true),
        Spec(SelfHarm, "self-injury (indirect)", r"\b(doing|did|done) the thing with my (arms?|wrists?|legs?|thighs?|skin)\b",
            None, None, G0, Speaker, true),
        Spec(SelfHarm, "self-injury", r"\bhurt(ing)? myself\b|\bself[- ]harm(ing|ed)?\b|\bself[- ]injur\w*\b",
            Some(r"\b(gym|lifting|playing|running|fell|slipped|accident|history of)\b"), None, G0, Speaker, true),
        Spec(SelfHarm, "self-injury", r"\bi('ve| have)? (been |started )?(cutting|burning) (again|myself|my)\b|\bi (cut|burned) (again|last night|yesterday|this week|this weekend)\b|\b(bang|banging|banged|hit|hitting|punch|punching) my head (against|on|into)\b|\bscratch(ed|ing)? (until|till) (it bleeds|it bled|i bleed|i bled|bleeding)\b",
            Some(r"\b(carbs|sugar|costs|hair|class|classes|calories|coupons)\b"), None, G0, Speaker, true),
        Spec(SelfHarm, "self-injury (reported)", r"\b(she|he)('s| has| is| was)( been)? (cutting|burning|hurting) (herself|himself)\b|\b(reports|reported|disclosed) (cutting|burning|self[- ]harm)\b",
            None, None, G0, Other, true),
        // Substance relapse: lapse, relapse, or a high-risk craving, for someone in recovery.
        Spec(SubstanceRelapse, "lapse", r"\bpicked (it )?(back )?up again\b|\bi (took a hit|did a line|did lines|did a shot|did shots|shot up)\b|\bpicked back up\b|\bi('ve| have)? (relapsed|slipped|lapsed)\b|\bfell off the wagon\b|\bwent back out\b|\bwent out went out\b|\b(i|i've) (used|drank|been drinking|been using|started (drinking|using)) again\b",
            Some(r"\b(slipped|lapsed) (on|and|in|down|off|out|into|through|my mind)\b"), None, Recovery, Speaker, true),
        Spec(SubstanceRelapse, "lapse", r"(^|[,;:\x{2014}]\s*|\b(and|but|so|then|like|yeah|no|okay|well|mean|just|um|uh),?\s+)i (used|drank|got high|got drunk|got loaded|got wasted|got messed up)\b",
            Some(r"\bi used (to|the|a|an|my|your|his|her|their|it|that|this|them|those|these|one|some|self|skills?|\w+ skills?|every|all|what)\b|\bi drank (my |the |a |some |half (a |the )?)?(whole )?(water|coffee|tea|juice|soda|milk|smoothie|bottle of water|glass of water|cup|gatorade|shake|protein)|\bif i (drank|used)\b"),
            None, Recovery, Speaker, true),
        Spec(SubstanceRelapse, "lapse", r"\bi had (a|one|two|three|four|a few|a couple|a couple of|some) (drinks?|beers?|shots?|glasses of wine|glass of wine|hits?|lines?|pills)\b|\bi (smoked|snorted|shot up|took|popped|bought) (some |a bag of |a bottle of )?(weed|pot|crack|meth|crystal|coke|cocaine|heroin|dope|fentanyl|oxy|percs|xanax|bars|a bottle|a fifth|a handle)\b|\bi (had|have) (a|another) (slip|lapse|relapse)\b|\b(reset|lost) my (sober|clean|sobriety) (date|time)\b|\bi('m| am) back to (drinking|using)\b",
            Some(r"\b(water|coffee|tea|juice|soda|milk)\b|\bif i\b"), None, Recovery, Speaker, true),
        Spec(SubstanceRelapse, "relapse (reported by family)", r"\b(he|she|they) (was|were|came home|got|showed up|seemed) (drunk|high|wasted|loaded|stoned)\b|\bsmelling (like|of) (a brewery|alcohol|booze|beer|liquor|weed|pot|a distillery)\b|\bfound (bottles|empties|empty bottles|(a |his |her )?(pipe|needles?|baggies|stash))\b|\b(he|she)('s| has)( been)? (drinking|using) again\b|\b(he|she) (relapsed|slipped|lapsed|overdosed|got high|got drunk)\b|\b(reports|reported|disclosed|admits|admitted|endorses|endorsed) (drinking|using|a (lapse|relapse|slip)|relapsing|relapse)\b|\b(he|she)('s| has) been (drinking|using|getting high)\b",
            Some(r"\b(if|unless|whether) (he|she|they)\b"), None, Recovery, Other, true),
        Spec(SubstanceRelapse, "high-risk craving", r"\b(almost|nearly) (called|texted) my (dealer|old guy|guy|connect|plug|old dealer)\b|\b(almost|nearly) (used|drank|relapsed|picked up|bought)\b|\b(urges?|cravings?) (to (use|drink|get high|pick up)|for (a )?(drink|drinks|pills|alcohol|beer|booze|dope|heroin|meth|coke|weed|opioids|crystal))\b",
            None, None, Recovery, Speaker, true),
        Spec(SubstanceRelapse, "ongoing cravings", r"\b(urges?|cravings?)\b.*\b(like a |about a |at a )?(one|two|three|four|five|six|seven|eight|nine|ten|\d+)( out of ten|/10)?\b",
            None, None, Follows, Speaker, true),
        // Child abuse (a mandated-reporting trigger): who did what to which child.
        Spec(ChildAbuse, "physical abuse with an implement", r"\b(hit|hits|hitting|beat|beats|beating|whip\w*|whoop\w*|spank\w*|struck|strikes?|disciplin\w*)\b",
            Some(r"\bwould (hit|beat|whip|whoop|spank|strike)\b"), Some(r"\b(belt|extension cord|coat hanger|wire hanger|paddle|wooden spoon)\b"), Child, Other, true),
        Spec(ChildAbuse, "disclosure", CHILD_ABUSE_DISCLOSURE, None, None, Child, Other, true),
        Spec(ChildAbuse, "sexual abuse", r"\b(touched|touches|touching|fondled|fondles) (her|him|my (son|daughter)|the (kids?|child)) (inappropriately|down there|in (her|his) private)\b|\b(sexually abused|molested|molesting|raped|raping) (her|him|my (son|daughter)|the (kids?|child))\b",
            None, None, Child, Other, true),
        Spec(ChildAbuse, "neglect", r"\bleft (the kids|the baby|the children|my (son|daughter|kids)|her (son|daughter|kids|baby)|his (son|daughter|kids|baby)) (alone|home alone|by (himself|herself|themselves)) (for|all|overnight)\b|\b(doesn't|don't|didn't) feed (him|her|them|the (kids|baby))\b",
            None, None, Child, Other, true),
        Spec(ChildAbuse, "injuries", r"\b(marks|welts|bruises|bruising|bruised|red stripes|black and blue|black eye)\b",
            None, None, Follows, Other, true),
        // Elder and dependent-adult abuse: neglect, financial exploitation, physical abuse.
        Spec(ElderAbuse, "neglect", r"\b(no|without|nothing but|didn't have any|hasn't had any) (heat|food|groceries|water|(her|his) (meds|medications?|pills))\b",
            None, Some(THIRD), Elder, Other, true),
        Spec(ElderAbuse, "neglect: utilities shut off", r"\bshut ?off (notice|the (gas|heat|power|electric|electricity|water))\b|\b(gas|heat|power|electric|electricity|water|utilities) (was|were|got|had been|has been) (shut|turned|cut) off\b|\bshut off the (gas|heat|power|electric|electricity|water)\b",
            None, Some(THIRD), Elder, Other, true),
        Spec(ElderAbuse, "neglect: left alone", r"\b(left|leaves|leaving|leave) (her|him|mom|dad|my (mom|mother|dad|father|grandm\w*|grandp\w*)) alone (for|since|all)\b|\balone (in (that|the|her|his) (house|apartment|home) )?(for|since) (days|a week|\w+ days|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b|\b(gone|away) for (two|three|four|five|a few|several|a couple of|\d+)(, (two|three|four|five))? (days|nights)\b",
            None, Some(THIRD), Elder, Other, true),
        Spec(ElderAbuse, "financial exploitation", r"\batm withdrawals?\b|\b(took|taking|takes|stole|stealing|steals|spent|spending|cashing|cashed|draining|drained|emptied) (all )?(of )?(her|his|mom's|dad's|my (mom|mother|dad|father|grandma|grandmother|grandpa|grandfather)'s) (money|pension|social security|checks?|savings|benefits|account)\b",
            None, Some(r"\b(pension|social security|account|bank|savings|checks?|benefits|money)\b"), Elder, Other, true),
        Spec(ElderAbuse, "physical abuse", r"\b(hit|hits|hitting|pushed|pushes|shoved|shoves|slapped|slaps|grabbed|grabs|rough with|laid a hand on) (mom|dad|my (mom|mother|dad|father|grandm\w*|grandp\w*))\b",
            None, None, Elder, Other, true),
        Spec(ElderAbuse, "financial exploitation", r"\b(stealing|stole|steals) (from )?(her|him|mom|dad|my (mom|mother|dad|father|grandm\w*|grandp\w*))\b|\b(took|takes|taking) (her|his) (checkbook|debit card|credit card|bank card)\b",
            None, Some(r"\b(pension|social security|account|bank|savings|checks?|benefits|money|card)\b"), Elder, Other, true),
        Spec(ElderAbuse, "neglect", r"\b(bed ?sores|pressure sores|sitting in (her|his) own (urine|waste|filth)|soiled (sheets|clothes|diaper))\b",
            None, Some(THIRD), Elder, Other, true),
        Spec(ElderAbuse, "named as elder abuse", r"\belder (abuse|neglect|mistreatment)\b|\bfinancial(ly)? exploit\w*\b|\badult protective services\b",
            None, None, Elder, Other, true),
    ]
}

/// "physical abuse of her six-year-old son", "child abuse", "molested my daughter", "hits my son".
const CHILD_ABUSE_DISCLOSURE: &str = concat!(
    r"\b(physical|sexual|emotional)? ?abus(e|ed|ing) (of )?(her|his|their|a|the|my)? ?([\w-]+ )?(son|daughter|child|children|kid|kids|boy|girl|stepson|stepdaughter)\b",
    r"|\bchild (abuse|neglect|maltreatment)\b|\bmolest\w* ",
    child_object!(),
    r"\b|\b(hits|hit|beats|beat|slaps|slapped|punches|punched|kicks|kicked|chokes|choked|shakes|shook|shoves|shoved|throws|threw|locks|locked) ",
    child_object!(),
    r"\b",
);

pub(crate) static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let compile = |re: &str| {
        Regex::new(re).unwrap_or_else(|e| panic!("risk rule {re:?} is not a valid regex: {e}"))
    };
    specs()
        .into_iter()
        .map(
            |Spec(category, tag, re, unless, cue_also, gate, person, negatable)| Rule {
                category,
                tag,
                re: compile(re),
                unless: unless.map(compile),
                cue_also: cue_also.map(compile),
                gate,
                person,
                negatable,
            },
        )
        .collect()
});

/// Session-level gates, read once over the whole transcript.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SessionContext {
    pub recovery: bool,
    pub elder: bool,
    pub child: bool,
}

static RECOVERY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(sober|sobriety|clean (for|since)|(days|weeks|months|years) clean|clean date|sober date|in recovery|my recovery|your recovery|his recovery|her recovery|relaps\w*|sponsor|sponsee|aa|na|(aa|na|twelve[- ]step|12[- ]step) meetings?|buprenorphine|suboxone|methadone|naltrexone|vivitrol|iop|detox|rehab|narcan|naloxone|twelve[- ]step|12[- ]step)\b")
        .expect("the recovery-context pattern is a valid regex")
});
static ELDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(seventy|eighty|ninety)([- ](one|two|three|four|five|six|seven|eight|nine))?\b|\b[7-9]\d[- ]year[- ]old\b|\b(age|aged) [7-9]\d\b|\b(elderly|elder|dementia|alzheimer's|alzheimers|nursing home|assisted living|memory care|senior center)\b|\bgrand(ma|mother|pa|father)\b")
        .expect("the elder-context pattern is a valid regex")
});
static CHILD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(son|daughter|kids?|child|children|boy|girl|stepson|stepdaughter|toddler|baby|\w+-year-old|first grade|second grade|kindergarten)\b")
        .expect("the child-context pattern is a valid regex")
});

impl SessionContext {
    pub fn read(normalised_cues: &[String]) -> Self {
        let any = |re: &Regex| normalised_cues.iter().any(|c| re.is_match(c));
        SessionContext {
            recovery: any(&RECOVERY),
            elder: any(&ELDER),
            child: any(&CHILD),
        }
    }

    pub fn allows(&self, gate: Gate) -> bool {
        match gate {
            Gate::None | Gate::Follows => true,
            Gate::Recovery => self.recovery,
            Gate::Elder => self.elder,
            Gate::Child => self.child,
        }
    }
}
