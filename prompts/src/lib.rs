//! Note formats as data (SOAP, DAP, BIRP, GIRP, psychotherapy notes, treatment-plan updates and
//! practice-defined formats): their sections, what belongs in each, example phrasings, and the
//! prompt templates with their versions.
//!
//! It must not know about storage or HTTP.
